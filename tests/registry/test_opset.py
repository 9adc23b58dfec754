"""``OpSet.declare``: an op's declaration stands beside its class; arity and optional inputs
are read off ``forward``; a name is declared once."""

from __future__ import annotations

import numpy as np
import pytest

from dezero_ext import Array, Domain, Function, OpDef, OpSet, Variable


def test_declare_reads_the_inputs_off_forward_and_keeps_the_class() -> None:
    ops = OpSet()

    @ops.declare("affine", domains=Domain(-1.0, 1.0), order=2)
    class Affine(Function):
        def forward(self, x: Array, w: Array, b: Array | None = None) -> Array:
            return x * w if b is None else x * w + b

        def backward(self, gy: Variable) -> tuple[Variable, ...]:
            x, w = self.inputs[:2]
            grads = (gy * w, gy * x)
            return grads if len(self.inputs) == 2 else (*grads, gy)

    (opdef,) = list(ops)
    assert isinstance(Affine, type) and opdef.function is Affine
    assert (opdef.arity, opdef.optional, opdef.min_arity, opdef.arity_text) == (3, 1, 2, "2-3")
    assert opdef.domains == (Domain(-1.0, 1.0),) * 3
    assert Affine.op_name == "affine"  # errors name the op
    two = opdef(np.ones(2), np.full(2, 3.0))
    three = opdef(np.ones(2), np.full(2, 3.0), np.ones(2))
    assert isinstance(two, Variable) and isinstance(three, Variable)
    assert two.data.tolist() == [3.0, 3.0] and three.data.tolist() == [4.0, 4.0]
    with pytest.raises(TypeError, match="affine: takes 2-3 inputs, got 1"):
        opdef(np.ones(2))


def test_an_explicit_arity_wins_and_a_signature_it_cannot_read_is_refused() -> None:
    ops = OpSet()

    class Stack(Function):
        def forward(self, *xs: Array) -> Array:
            return np.stack(xs)

    with pytest.raises(TypeError, match="pass arity="):
        ops.declare("stack")(Stack)
    ops.declare("stack", arity=2)(Stack)
    assert ops["stack"].arity == 2


def test_a_name_is_declared_once() -> None:
    ops = OpSet()

    class Ident(Function):
        def forward(self, x: Array) -> Array:
            return x

    ops.declare("ident")(Ident)
    with pytest.raises(ValueError, match="'ident' is declared twice"):
        ops.add(OpDef("ident", Ident))
    assert len(ops) == 1 and "ident" in repr(ops)


def test_optional_inputs_are_validated() -> None:
    class Ident(Function):
        def forward(self, x: Array) -> Array:
            return x

    with pytest.raises(ValueError, match="optional must be an int from 0 to arity - 1"):
        OpDef("ident", Ident, arity=1, optional=1)
