"""Numerical differentiation: step from dtype and scale, accuracy, one-sided derivatives and
the five-point kink detector."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dezero_ext.testing.numerical import (
    F64,
    Derivative,
    _from_scalar_samples,
    _refined,
    derivative_from_samples,
    directional_derivative,
    numerical_jacobian,
    numerical_vjp,
    step_size,
)


def test_step_follows_dtype_and_scale() -> None:
    assert float(step_size(0.5)) == pytest.approx(np.cbrt(np.finfo(np.float64).eps))
    assert float(step_size(0.5, np.float32)) == pytest.approx(np.cbrt(np.finfo(np.float32).eps))
    assert float(step_size(-100.0)) == pytest.approx(100 * np.cbrt(np.finfo(np.float64).eps))
    np.testing.assert_allclose(
        step_size(np.array([0.0, 3.0])), step_size(1.0) * np.array([1.0, 3.0])
    )


def _sin(x: F64) -> tuple[F64]:
    return (np.sin(x),)


def test_central_difference_is_accurate_in_float64() -> None:
    x = np.array([0.7, -2.0, 3.0])
    (grad,) = numerical_vjp(_sin, [x])
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-9, atol=1e-12)


def test_float32_inputs_are_differentiated_in_float64() -> None:
    x = np.array([0.7], dtype=np.float32)
    (grad,) = numerical_vjp(_sin, [x])
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, np.cos(np.float64(x)), rtol=1e-9)


def test_jacobian_blocks_per_output_and_input() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([0.5, -1.0])

    def f(a: F64, b: F64) -> tuple[F64, F64]:
        return a @ b, np.sum(a) * b

    jac = numerical_jacobian(f, [a, b])
    assert [[blk.central.shape for blk in row] for row in jac] == [
        [(2, 4), (2, 2)],
        [(2, 4), (2, 2)],
    ]
    np.testing.assert_allclose(jac[0][1].central, a, rtol=1e-9)  # d(a @ b)/db = a
    np.testing.assert_allclose(jac[1][0].central, np.outer(b, np.ones(4)), rtol=1e-9)
    assert not any(blk.kink.any() for row in jac for blk in row)


def test_relu_kink_is_detected_with_its_one_sided_derivatives() -> None:
    def relu(x: F64) -> tuple[F64]:
        return (np.maximum(x, 0.0),)

    ((at_kink,),) = numerical_jacobian(relu, [np.array(0.0)])
    assert bool(at_kink.kink[0, 0])
    assert float(at_kink.left[0, 0]) == pytest.approx(0.0, abs=1e-9)
    assert float(at_kink.right[0, 0]) == pytest.approx(1.0)
    assert float(at_kink.central[0, 0]) == pytest.approx(0.5)
    ((away,),) = numerical_jacobian(relu, [np.array(0.5)])
    assert not away.kink.any()


def test_smooth_functions_are_not_flagged() -> None:
    xs = np.linspace(-3, 3, 25)
    ((d,),) = numerical_jacobian(lambda x: (np.tanh(x) * np.exp(x),), [xs])
    assert not d.kink.any()


def test_a_pole_inside_the_step_is_flagged() -> None:
    h = 1e-3
    samples = [1 / (s * h) if s else np.inf for s in (-1, -0.5, 0, 0.5, 1)]
    assert bool(derivative_from_samples(samples, h).kink)


def test_directional_derivative_is_the_projection() -> None:
    x, u, v = np.array([0.3, 1.2]), np.array([1.0, -0.5]), np.array([2.0, 1.0])
    d = directional_derivative(_sin, [x], [u], [v])
    assert float(d.central) == pytest.approx(float(np.sum(v * np.cos(x) * u)), rel=1e-9)


def _fields(d: Derivative) -> list[tuple[float, ...]]:
    names = ("central", "left", "right", "kink", "step", "rounding", "truncation")
    values = [getattr(d, name) for name in names] + list(d.outer())
    return [tuple(np.asarray(v, dtype=np.float64).reshape(-1).tolist()) for v in values]


def test_the_projection_fast_path_gives_the_same_numbers_as_the_array_version() -> None:
    # directional_derivative combines its five samples on floats (_from_scalar_samples); it
    # must be derivative_from_samples bit for bit, non-finite samples and kinks included.
    rng = np.random.default_rng(7)
    special = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e300, -1e300, 5e-324]
    for trial in range(3000):
        samples = (rng.standard_normal(5) * 10.0 ** rng.integers(-12, 12, 5)).tolist()
        if trial % 3 == 0:
            samples[int(rng.integers(0, 5))] = special[int(rng.integers(0, len(special)))]
        if trial % 7 == 0:  # a kink: a corner within the step
            samples = [abs(s) for s in (-1.0, -0.5, 0.0, 0.5, 1.0)]
        h = float(10.0 ** rng.uniform(-9, 0))
        eps = float(np.finfo(np.float32 if trial % 2 else np.float64).eps)
        magnitude = float(abs(rng.standard_normal()) * 10.0 ** rng.integers(-5, 5))
        with np.errstate(all="ignore"):
            expected = derivative_from_samples(samples, h, eps=eps, magnitude=magnitude)
            got = _from_scalar_samples(samples, h, eps, magnitude)
        # repr: NaN equal to NaN, -0.0 unequal to 0.0
        assert repr(_fields(got)) == repr(_fields(expected)), samples


@pytest.mark.parametrize(
    ("name", "x"),
    [("sin", 0.3), ("abs", 0.0), ("sqrt", 1e-9), ("log", 1e-6), ("pole", 1e-7), ("shift", 1e8)],
)
def test_the_projection_refines_its_step_as_the_array_version_does(name: str, x: float) -> None:
    # _refined on one derivative (_refined_scalar) picks the same steps and estimate as on a
    # 1-element array, tolerance by tolerance.
    functions: dict[str, Callable[[np.float64], object]] = {
        "sin": np.sin,
        "abs": np.abs,
        "sqrt": np.sqrt,
        "log": np.log,
        "pole": lambda t: 1 / t,
        "shift": lambda t: (t + 1e8) ** 2 * 1e-16,
    }
    f = functions[name]

    def samples(h: float) -> list[float]:
        with np.errstate(all="ignore"):
            values = [f(np.float64(x + s * h)) for s in (-1.0, -0.5, 0.0, 0.5, 1.0)]
        return [float(np.float64(v)) for v in values]  # type: ignore[arg-type]  # NumPy scalars

    def scalar(h: float) -> Derivative:
        return _from_scalar_samples(samples(h), h, float(np.finfo(np.float64).eps), abs(x) + 1)

    def array(h: float) -> Derivative:
        with np.errstate(all="ignore"):
            return derivative_from_samples(
                [np.array([s]) for s in samples(h)], h, magnitude=np.array([abs(x) + 1])
            )

    for rtol, atol in [(2.5e-6, 2.5e-7), (0.0, 1e-12), (1e-3, 0.0), (0.0, 0.0)]:
        got = _refined(scalar, 1e-3, rtol, atol)
        expected = _refined(array, 1e-3, rtol, atol)
        assert repr(_fields(got)) == repr(_fields(expected)), (rtol, atol)
