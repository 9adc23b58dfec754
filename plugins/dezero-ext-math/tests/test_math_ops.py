"""The dezero-ext-math plugin: values against NumPy, first and second derivatives against
float64 central differences, dtypes, domains (nan outside, as NumPy), kinks and ties."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import dezero_ext_math as dm
from dezero_ext import Domain, Variable, get_registry
from tests.oracle import assert_grad, assert_second_order

RNG = np.random.default_rng(4)

ALL_OPS = {
    "sin": 3,
    "cos": 3,
    "tan": 3,
    "tanh": 3,
    "log": 3,
    "log1p": 3,
    "sqrt": 3,
    "abs": 2,
    "clip": 2,
    "maximum": 2,
    "minimum": 2,
    "max": 2,
    "min": 2,
    "logsumexp": 3,
}


def rand(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


def away_from(points: tuple[float, ...], *shape: int, low: float, high: float) -> np.ndarray:
    """Uniform values in [low, high] kept 0.05 away from ``points`` (kinks)."""
    x = rand(*shape, low=low, high=high)
    for p in points:
        near = np.abs(x - p) < 0.05
        x[near] = p + np.where(x[near] >= p, 0.05, -0.05)
    return x


def test_the_plugin_registers_every_op_with_its_declared_order() -> None:
    registry = get_registry()
    for name, order in ALL_OPS.items():
        opdef = registry.get(name)
        assert opdef.order == order, name
        # log, abs, max and min are built in (the core's operators use them)
        builtin = name in ("log", "abs", "max", "min")
        expected = "dezero-ext" if builtin else "dezero-ext-math"
        assert registry.provider(name).distribution == expected, name


def test_every_op_draws_from_its_own_domain() -> None:
    registry = get_registry()
    for name in ("log", "log1p", "sqrt"):
        (domain,) = registry.get(name).domains
        assert domain.outside == "nan", name
    (abs_domain,) = registry.get("abs").domains
    assert abs_domain.kinks == (0.0,)
    assert abs_domain.kink_rule == "mean"
    assert registry.get("max").ties == registry.get("maximum").ties == "split"


# ------------------------------------------------------------------------ elementwise unary
UNARY: list[tuple[str, Callable[[Variable], Variable], Callable[..., np.ndarray], Domain]] = [
    ("sin", dm.sin, np.sin, Domain(-6.0, 6.0)),
    ("cos", dm.cos, np.cos, Domain(-6.0, 6.0)),
    ("tan", dm.tan, np.tan, Domain(-1.3, 1.3)),
    ("tanh", dm.tanh, np.tanh, Domain(-4.0, 4.0)),
    ("log", dm.log, np.log, Domain(0.2, 4.0)),
    ("log1p", dm.log1p, np.log1p, Domain(-0.8, 3.0)),
    ("sqrt", dm.sqrt, np.sqrt, Domain(0.1, 4.0)),
    ("abs", dm.abs, np.abs, Domain(-2.0, 2.0, kinks=(0.0,))),
    ("clip", lambda x: dm.clip(x, -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0), Domain()),
    ("clip_low", lambda x: dm.clip(x, -0.5, None), lambda a: np.maximum(a, -0.5), Domain()),
    ("clip_high", lambda x: dm.clip(x, None, 0.5), lambda a: np.minimum(a, 0.5), Domain()),
]
CLIP_KINKS = (-0.5, 0.5, 1.0)


def _draw(domain: Domain, *shape: int) -> np.ndarray:
    return away_from(domain.kinks or CLIP_KINKS, *shape, low=domain.low, high=domain.high)


@pytest.mark.parametrize(("name", "op", "ref", "domain"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_values_and_derivatives_to_second_order(
    name: str,
    op: Callable[[Variable], Variable],
    ref: Callable[..., np.ndarray],
    domain: Domain,
) -> None:
    for shape in ((), (5,), (2, 3, 2)):
        a = _draw(domain, *shape)
        np.testing.assert_allclose(op(Variable(a)).data, ref(a), rtol=1e-14)
        assert_grad(op, a)
        assert_second_order(op, a)


@pytest.mark.parametrize(("name", "op", "ref", "domain"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_float32_in_float32_out_and_gradients(
    name: str,
    op: Callable[[Variable], Variable],
    ref: Callable[..., np.ndarray],
    domain: Domain,
) -> None:
    a = _draw(domain, 4, 3).astype(np.float32)
    x = Variable(a)
    y = op(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, ref(a), rtol=1e-6)
    y.backward(create_graph=True)
    assert x.grad is not None
    assert x.grad.dtype == np.float32
    x64 = Variable(a.astype(np.float64))
    op(x64).backward()
    assert x64.grad is not None
    np.testing.assert_allclose(x.grad.data, x64.grad.data, rtol=2e-6, atol=1e-7)
    g = x.grad
    x.cleargrad()
    g.sum().backward()
    if x.grad is not None:
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("op", "third"),
    [
        (dm.sin, lambda t: -np.cos(t)),
        (dm.cos, np.sin),
        (dm.tan, lambda t: 2 * (1 + np.tan(t) ** 2) * (1 + 3 * np.tan(t) ** 2)),
        (dm.tanh, lambda t: -2 * (1 - np.tanh(t) ** 2) * (1 - 3 * np.tanh(t) ** 2)),
    ],
    ids=["sin", "cos", "tan", "tanh"],
)
def test_third_derivatives_of_the_trigonometric_ops(
    op: Callable[[Variable], Variable], third: Callable[[float], float]
) -> None:
    x0 = 0.4
    x = Variable(np.array(x0))
    op(x).backward(create_graph=True)
    for _ in range(2):
        g = x.grad
        assert g is not None
        x.cleargrad()
        g.backward(create_graph=True)
    assert x.grad is not None
    assert float(x.grad.data) == pytest.approx(third(x0), rel=1e-12)


@pytest.mark.parametrize(
    ("op", "ref", "value"),
    [
        (dm.log, np.log, -1.0),
        (dm.log1p, np.log1p, -2.0),
        (dm.sqrt, np.sqrt, -1.0),
    ],
    ids=["log", "log1p", "sqrt"],
)
def test_outside_the_domain_values_are_nan_with_numpys_warning(
    op: Callable[[Variable], Variable], ref: Callable[..., np.ndarray], value: float
) -> None:
    a = np.array([value, 1.0])
    with pytest.warns(RuntimeWarning, match="invalid value"):
        y = op(Variable(a))
    with pytest.warns(RuntimeWarning):
        expected = ref(a)
    np.testing.assert_array_equal(y.data, expected)
    assert np.isnan(y.data[0])


def test_log_of_zero_is_minus_infinity_as_in_numpy() -> None:
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y = dm.log(Variable(np.array([0.0])))
    assert y.data[0] == -np.inf


def test_log1p_is_accurate_near_zero() -> None:
    y = dm.log1p(Variable(np.array([1e-12])))
    assert float(y.data[0]) == pytest.approx(1e-12, rel=1e-12)


def test_abs_gradient_at_the_kink_is_the_mean_of_the_one_sided_ones() -> None:
    x = Variable(np.array([-1.0, 0.0, 2.0]))
    dm.abs(x).backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])


def test_clip_gradient_is_one_inside_and_on_the_bounds_and_zero_outside() -> None:
    x = Variable(np.array([-2.0, -0.5, 0.0, 1.0, 3.0]))
    y = dm.clip(x, -0.5, 1.0)
    np.testing.assert_array_equal(y.data, [-0.5, -0.5, 0.0, 1.0, 1.0])
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("low", "high", "error", "message"),
    [
        (1.0, -1.0, ValueError, r"clip: low 1.0 is above high -1.0"),
        (None, None, ValueError, r"clip: give at least one of low and high"),
        ("0", 1.0, TypeError, r"clip: low must be a number or None, got str '0'"),
    ],
)
def test_clip_rejects_bad_bounds_naming_them(
    low: object, high: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        dm.clip(Variable(np.zeros(2)), low, high)  # type: ignore[arg-type]  # the error


# ------------------------------------------------------------------ maximum and minimum
SELECT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2)), ((4, 1, 2), (3, 1))]


@pytest.mark.parametrize(("sa", "sb"), SELECT_SHAPES)
@pytest.mark.parametrize(
    ("op", "ref"), [(dm.maximum, np.maximum), (dm.minimum, np.minimum)], ids=["max", "min"]
)
def test_maximum_minimum_broadcast_and_derivatives(
    op: Callable[[Variable, Variable], Variable],
    ref: Callable[..., np.ndarray],
    sa: tuple[int, ...],
    sb: tuple[int, ...],
) -> None:
    a = rand(*sa)
    b = rand(*sb)  # redrawn until at least 0.1 from a everywhere (no near-ties)
    for _ in range(100):
        gap = np.abs(np.broadcast_to(a, np.broadcast_shapes(sa, sb)) - b)
        if gap.min() >= 0.1:
            break
        b = rand(*sb)
    else:
        pytest.skip("could not draw a tie-free pair")
    np.testing.assert_array_equal(op(Variable(a), Variable(b)).data, ref(a, b))
    assert_grad(op, a, b)
    assert_second_order(op, a, b)


@pytest.mark.parametrize("op", [dm.maximum, dm.minimum], ids=["maximum", "minimum"])
def test_maximum_minimum_ties_split_the_gradient(
    op: Callable[[Variable, Variable], Variable],
) -> None:
    a = Variable(np.array([1.0, 2.0, 3.0]))
    b = Variable(np.array([3.0, 2.0, 1.0]))
    op(a, b).backward()
    assert a.grad is not None
    assert b.grad is not None
    win = [0.0, 0.5, 1.0] if op is dm.maximum else [1.0, 0.5, 0.0]
    np.testing.assert_array_equal(a.grad.data, win)
    np.testing.assert_array_equal(b.grad.data, win[::-1])


def test_maximum_with_a_broadcast_tie_splits_and_sums_back() -> None:
    a = Variable(np.array(1.0))
    b = Variable(np.array([1.0, 1.0, 0.0]))
    dm.maximum(a, b).backward()
    assert a.grad is not None
    assert b.grad is not None
    assert float(a.grad.data) == 2.0  # 0.5 + 0.5 + 1
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.5, 0.0])


def test_maximum_float32_and_shape_errors() -> None:
    a = Variable(np.ones(3, np.float32))
    y = dm.maximum(a, 0.5)
    assert y.dtype == np.float32
    y.backward()
    assert a.grad is not None
    assert a.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"minimum: shapes \(2, 3\) and \(2,\) do not broadcast"):
        dm.minimum(Variable(np.ones((2, 3))), Variable(np.ones(2)))


# ---------------------------------------------------------------------------- reductions
AXES: list[tuple[int | tuple[int, ...] | None, bool]] = [
    (None, False),
    (None, True),
    (0, False),
    (-1, True),
    ((0, 2), False),
    ((2, 0), True),
    ((), False),
]


def distinct(*shape: int) -> np.ndarray:
    """Values 0.1 apart, shuffled: no ties and no near-ties."""
    n = int(np.prod(shape))
    return RNG.permutation(np.arange(n) * 0.1 - 0.05 * n).reshape(shape)


@pytest.mark.parametrize(("axis", "keepdims"), AXES)
@pytest.mark.parametrize(
    ("name", "op", "ref"),
    [("max", dm.max, np.max), ("min", dm.min, np.min), ("logsumexp", dm.logsumexp, None)],
    ids=["max", "min", "logsumexp"],
)
def test_reductions_match_numpy_and_their_derivatives(
    name: str,
    op: Callable[..., Variable],
    ref: Callable[..., np.ndarray] | None,
    axis: int | tuple[int, ...] | None,
    keepdims: bool,
) -> None:
    a = distinct(2, 3, 4)
    y = op(Variable(a), axis, keepdims)
    if ref is None:
        expected = np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))
    else:
        expected = ref(a, axis=axis, keepdims=keepdims)
    assert y.shape == np.shape(expected)
    np.testing.assert_allclose(y.data, expected, rtol=1e-13)

    def f(x: Variable) -> Variable:
        return op(x, axis, keepdims)

    assert_grad(f, a)
    assert_second_order(f, a)


@pytest.mark.parametrize("op", [dm.max, dm.min, dm.logsumexp], ids=["max", "min", "lse"])
def test_reductions_preserve_float32(op: Callable[..., Variable]) -> None:
    x = Variable(distinct(3, 4).astype(np.float32))
    y = op(x, axis=1)
    assert y.dtype == np.float32
    y.backward(create_graph=True)
    assert x.grad is not None
    assert x.grad.dtype == np.float32


def test_max_ties_split_the_gradient_evenly() -> None:
    x = Variable(np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 0.0, 2.0, -1.0]]))
    dm.max(x, axis=1).backward()
    assert x.grad is not None
    third = 1 / 3
    np.testing.assert_allclose(x.grad.data, [[0, third, third, third], [0.5, 0, 0.5, 0]])


def test_min_of_a_constant_array_splits_over_every_element() -> None:
    x = Variable(np.full((2, 2), 7.0))
    dm.min(x).backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.full((2, 2), 0.25))


@pytest.mark.parametrize("op", [dm.max, dm.min, dm.logsumexp], ids=["max", "min", "lse"])
def test_reductions_of_a_0d_input_and_numpy_integer_axes(op: Callable[..., Variable]) -> None:
    x = Variable(np.array(1.5))
    assert float(op(x, 0).data) == pytest.approx(1.5)
    a = distinct(2, 3)
    expected = op(Variable(a), 1).data
    np.testing.assert_array_equal(op(Variable(a), np.int64(1)).data, expected)


@pytest.mark.parametrize("op", [dm.max, dm.min, dm.logsumexp], ids=["max", "min", "lse"])
def test_reduction_axis_errors_name_the_op(op: Callable[..., Variable]) -> None:
    name = {dm.max: "max", dm.min: "min", dm.logsumexp: "logsumexp"}[op]
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for a 2-d input"):
        op(Variable(np.zeros((2, 3))), 2)
    with pytest.raises(ValueError, match=rf"{name}: axis \(1, -1\) repeats an axis"):
        op(Variable(np.zeros((2, 3))), (1, -1))


@pytest.mark.parametrize("op", [dm.max, dm.min], ids=["max", "min"])
def test_max_of_an_empty_axis_is_an_error_naming_the_op(op: Callable[..., Variable]) -> None:
    name = "max" if op is dm.max else "min"
    with pytest.raises(ValueError, match=rf"{name}: cannot reduce an input of shape \(0, 3\)"):
        op(Variable(np.zeros((0, 3))), 0)
    assert op(Variable(np.zeros((0, 3))), 1).shape == (0,)  # a non-empty axis is fine


def test_logsumexp_is_stable_for_large_and_very_negative_inputs() -> None:
    x = Variable(np.array([[1000.0, 1000.0], [-1000.0, -1001.0], [-np.inf, -np.inf]]))
    y = dm.logsumexp(x, axis=1)
    expected = [1000.0 + np.log(2.0), -1000.0 + np.log1p(np.exp(-1.0)), -np.inf]
    np.testing.assert_allclose(y.data, expected, rtol=1e-15)
    dm.logsumexp(x[:2], axis=1).backward()
    assert x.grad is not None
    sigmoid = 1 / (1 + np.e)
    # the gradient exp(x - y) reuses y, rounded at magnitude 1000: ~1000 eps of error
    np.testing.assert_allclose(
        x.grad.data, [[0.5, 0.5], [1 - sigmoid, sigmoid], [0.0, 0.0]], rtol=1e-12
    )


def test_logsumexp_float32_does_not_overflow() -> None:
    y = dm.logsumexp(Variable(np.array([100.0, 100.0], dtype=np.float32)))
    assert y.dtype == np.float32
    assert float(y.data) == pytest.approx(100.0 + np.log(2.0), rel=1e-6)


def test_logsumexp_gradient_is_the_softmax_and_its_hessian() -> None:
    a = np.array([0.3, -1.2, 2.0])
    x = Variable(a)
    dm.logsumexp(x).backward(create_graph=True)
    assert x.grad is not None
    p = np.exp(a) / np.exp(a).sum()
    np.testing.assert_allclose(x.grad.data, p, rtol=1e-14)
    g = x.grad
    x.cleargrad()
    g[0].backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, p[0] * (np.eye(3)[0] - p), rtol=1e-13)


def test_logsumexp_of_an_empty_axis_is_minus_infinity_as_scipy() -> None:
    y = dm.logsumexp(Variable(np.zeros((0, 2))), axis=0)
    np.testing.assert_array_equal(y.data, [-np.inf, -np.inf])


def test_typed_functions_accept_arrays_and_numbers() -> None:
    assert dm.sqrt(np.array([4.0])).data.tolist() == [2.0]
    assert dm.maximum(np.array([1.0, 3.0]), 2.0).data.tolist() == [2.0, 3.0]
    assert dm.log(np.array([1, 1], dtype=np.int32)).dtype == np.float64  # ints -> float64


def test_max_of_a_slice_with_nan_is_nan_without_a_warning_as_numpy() -> None:
    x = Variable(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = dm.max(x, axis=1)
        y.backward()
    np.testing.assert_array_equal(y.data, [np.nan, 3.0])
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data[1], [0.0, 1.0])
