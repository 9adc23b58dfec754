"""Every registered op, built-in and bundled, refuses a wrong parameter at its boundary with a
``TypeError`` or ``ValueError`` naming the op, the parameter and what was given: an unknown
name lists the ones it takes, a value of the wrong type or out of range says what is
accepted. Never a raw Python or NumPy message, never a silently wrong number."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dezero_ext import Case, OpDef, ShapeRule, Variable, get_registry
from tests.numpy_draw import NumpyDraw

OPS = sorted(get_registry().ops())


def valid_case(opdef: OpDef) -> Case:
    """Inputs and parameters the op accepts, drawn as the checker draws them."""
    draw = NumpyDraw(0, opdef.domains[0])
    if opdef.sample is not None:
        return opdef.sample(draw)
    shapes = {
        ShapeRule.MATMUL: [(2, 3), (3, 2)],
    }.get(opdef.shape_rule, [(2, 3)] * opdef.arity)
    return Case(tuple(draw.array(s, d) for s, d in zip(shapes, opdef.domains, strict=True)))


def _apply(opdef: OpDef, case: Case, **params: object) -> object:
    return opdef(*(Variable(x) for x in case.inputs), **{**case.params, **params})


def _names(opdef: OpDef) -> list[str]:
    assert opdef.parameters is not None, f"{opdef.name} takes any keyword"
    return [p.name for p in opdef.parameters]


@pytest.mark.parametrize("name", OPS)
def test_the_drawn_case_is_accepted(name: str) -> None:
    opdef = get_registry().get(name)
    _apply(opdef, valid_case(opdef))


@pytest.mark.parametrize("name", OPS)
def test_an_unknown_parameter_names_the_op_and_lists_the_ones_it_takes(name: str) -> None:
    opdef = get_registry().get(name)
    with pytest.raises(TypeError) as info:
        _apply(opdef, valid_case(opdef), bogus_flag=3)
    message = str(info.value)
    assert message.startswith(f"{name}: unknown parameter 'bogus_flag'"), message
    assert "given 3" in message
    for parameter in _names(opdef):
        assert parameter in message, (parameter, message)
    if not _names(opdef):
        assert f"{name} takes none" in message


_WRONG_TYPES: list[object] = ["bad", object(), [[1.5, "x"]]]


@pytest.mark.parametrize("name", [op for op in OPS if _names(get_registry().get(op))])
@pytest.mark.parametrize("wrong", _WRONG_TYPES, ids=["str", "object", "nested-list"])
def test_a_parameter_of_the_wrong_type_is_named(name: str, wrong: object) -> None:
    opdef = get_registry().get(name)
    case = valid_case(opdef)
    for parameter in _names(opdef):
        with pytest.raises((TypeError, ValueError)) as info:
            _apply(opdef, case, **{parameter: wrong})
        message = str(info.value)
        assert message.startswith(f"{name}: "), (parameter, message)
        assert parameter in message, (parameter, message)
        assert type(wrong).__name__ in message or repr(wrong)[:20] in message, message


@pytest.mark.parametrize(
    ("op", "params", "pattern"),
    [
        ("sum", {"axis": 1.0}, r"sum: axis must be an int.*got float 1\.0"),
        ("sum", {"axis": "0"}, r"sum: axis must be an int.*got str '0'"),
        ("sum", {"keepdims": "yes"}, r"sum: keepdims must be a bool.*got str 'yes'"),
        ("mean", {"keepdims": 1}, r"mean: keepdims must be a bool.*got int 1"),
        ("transpose", {"axes": "ab"}, r"transpose: axes must be .*ints.*got str 'ab'"),
        ("transpose", {"axes": (0, 0.5)}, r"transpose: axes must be .*ints.*got tuple"),
        ("dropout", {"seed": -1}, r"dropout: seed must be .*>= 0.*got -1"),
        ("dropout", {"ratio": 1.5}, r"dropout: ratio 1\.5 .*\[0, 1\)"),
        ("leaky_relu", {"slope": float("nan")}, r"leaky_relu: slope must be a finite"),
        ("conv2d", {"stride": 0}, r"conv2d: stride must be .*>= 1.*got 0"),
        ("pooling", {"kernel_size": -2}, r"pooling: kernel_size must be .*>= 1.*got -2"),
        ("reshape", {"shape": (2, "3")}, r"reshape: shape must be .*ints.*got"),
        ("clip", {"low": "0"}, r"clip: low must be a number or None, got str '0'"),
    ],
)
def test_wrong_values_from_the_issue_are_named(
    op: str, params: dict[str, object], pattern: str
) -> None:
    opdef = get_registry().get(op)
    with pytest.raises((TypeError, ValueError), match=pattern):
        _apply(opdef, valid_case(opdef), **params)


def test_batch_norm_eps_of_the_wrong_type() -> None:
    batch_norm = get_registry().get("batch_norm")
    x = Variable(np.ones((2, 3)))
    gamma, beta = Variable(np.ones(3)), Variable(np.zeros(3))
    with pytest.raises(TypeError, match=r"batch_norm: eps must be a positive number, got str 'a'"):
        batch_norm(x, gamma, beta, eps="a")
    with pytest.raises(ValueError, match=r"batch_norm: eps must be a positive number, got -1"):
        batch_norm(x, gamma, beta, eps=-1.0)


def test_softmax_over_an_empty_axis_is_empty() -> None:
    for op in ("log_softmax", "softmax"):
        x = Variable(np.ones((2, 0)))
        y = get_registry().get(op)(x)
        assert isinstance(y, Variable) and y.shape == (2, 0)
        y.backward()
        assert x.grad is not None and x.grad.shape == (2, 0)


@pytest.mark.parametrize(
    ("op", "params"),
    [("conv2d", {"pad": 10**6}), ("im2col", {"kernel_size": 2, "pad": 10**6})],
)
def test_a_padding_too_large_is_refused_before_allocating(op: str, params: dict[str, int]) -> None:
    x, w = Variable(np.ones((1, 1, 3, 3))), Variable(np.ones((1, 1, 2, 2)))
    inputs = (x, w) if op == "conv2d" else (x,)
    with pytest.raises(MemoryError, match=re.escape(f"{op}: pad=(1000000, 1000000)")) as info:
        get_registry().get(op)(*inputs, **params)
    assert "TiB" in str(info.value) and "(1, 1, 2000003, 2000003)" in str(info.value)


def test_the_variable_methods_check_their_parameters_the_same_way() -> None:
    x = Variable(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"sum: keepdims must be a bool.*got str 'yes'"):
        x.sum(keepdims="yes")  # type: ignore[arg-type]  # the mistake is the point
    with pytest.raises(TypeError, match=r"transpose: axes must be .*got tuple \('a', 'b'\)"):
        x.transpose("ab")  # type: ignore[arg-type]  # the mistake is the point
    with pytest.raises(TypeError, match=r"sum: axis must be an int.*got float 1\.0"):
        x.sum(axis=1.0)  # type: ignore[arg-type]  # the mistake is the point
