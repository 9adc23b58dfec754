"""Deliberately wrong ops: each one has a single, known fault in its backward.

They are never registered: the mutation tests hand them to the checker one by one and assert
that it fails them with a report that points at the fault. ``RELU`` is the correct op next to
its mutant, to show that a kink with a declared convention passes.
"""

from __future__ import annotations

import numpy as np

from dezero_ext import Array, Case, Domain, Draw, Function, OpDef, ShapeRule, Variable
from dezero_ext.ops import sum_to, transpose
from dezero_ext.ops.linalg import matmul
from dezero_ext_math import sin


class FlippedExp(Function):
    def forward(self, x: Array) -> Array:
        return np.exp(x)

    def backward(self, gy: Variable) -> Variable:
        return -gy * self.output()  # fault: the sign


class DoubledSquare(Function):
    def forward(self, x: Array) -> Array:
        return x * x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return 4 * x * gy  # fault: a factor of 2 too many


class TransposedMatMul(Function):
    def forward(self, a: Array, b: Array) -> Array:
        return a @ b

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        a, b = self.inputs
        ga = matmul(gy, transpose(b))
        return transpose(ga), matmul(transpose(a), gy)  # fault: ga transposed


class UnbroadcastAdd(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        return x0 + x1

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        return gy, gy  # fault: no sum_to for a broadcast input


class _SinPrime(Function):
    """cos, with a wrong derivative of its own: the second derivative of BadSecondSin."""

    def forward(self, x: Array) -> Array:
        return np.cos(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * sin(x)  # fault: should be -sin


class BadSecondSin(Function):
    def forward(self, x: Array) -> Array:
        return np.sin(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * _SinPrime()(x)  # right value, wrong derivative


class Float32Square(Function):
    def forward(self, x: Array) -> Array:
        return x * x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        factor = 2.05 if x.dtype == np.float32 else 2.0  # fault: only in float32
        return factor * x * gy


class SummedGradient(Function):
    def forward(self, x: Array) -> Array:
        return 3 * x

    def backward(self, gy: Variable) -> Variable:
        return 3 * gy.sum()  # fault: a scalar for an array input


class Float64Leak(Function):
    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(np.full(gy.shape, 2.0))  # fault: a float64 constant


class Relu(Function):
    def forward(self, x: Array) -> Array:
        return np.maximum(x, 0)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable((x.data > 0).astype(x.dtype))  # relu'(0) = 0: the left derivative


class ReluRightAtZero(Relu):
    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable((x.data >= 0).astype(x.dtype))  # fault: 1 at 0, declared "left"


class DroppedMul(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        return x0 * x1

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        g0 = sum_to(gy * x1, x0.shape)
        return g0, Variable(np.zeros(x1.shape, dtype=x1.dtype))  # fault: input 1 dropped


class Cos(Function):
    """A correct op, as a control in the same file."""

    def forward(self, x: Array) -> Array:
        return np.cos(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return -gy * sin(x)


def _square_matmul(draw: Draw) -> Case:
    n = draw.integer(2, 4)
    return Case((draw.array((n, n)), draw.array((n, draw.integer(1, 4)))))


_ANY = Domain(-2.0, 2.0)

FLIPPED_EXP = OpDef("flipped_exp", FlippedExp, domains=(_ANY,))
DOUBLED_SQUARE = OpDef("doubled_square", DoubledSquare, domains=(_ANY,))
TRANSPOSED_MATMUL = OpDef(
    "transposed_matmul", TransposedMatMul, arity=2, domains=(_ANY,), sample=_square_matmul
)
UNBROADCAST_ADD = OpDef(
    "unbroadcast_add", UnbroadcastAdd, arity=2, domains=(_ANY,), shape_rule=ShapeRule.BROADCAST
)
BAD_SECOND_SIN = OpDef("bad_second_sin", BadSecondSin, domains=(_ANY,), order=2)
FLOAT32_SQUARE = OpDef("float32_square", Float32Square, domains=(_ANY,))
SUMMED_GRADIENT = OpDef("summed_gradient", SummedGradient, domains=(_ANY,))
FLOAT64_LEAK = OpDef("float64_leak", Float64Leak, domains=(_ANY,))
RELU = OpDef("relu", Relu, domains=(Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="left"),))
RELU_RIGHT_AT_ZERO = OpDef(
    "relu_right_at_zero",
    ReluRightAtZero,
    domains=(Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="left"),),
)
DROPPED_MUL = OpDef(
    "dropped_mul", DroppedMul, arity=2, domains=(_ANY,), shape_rule=ShapeRule.BROADCAST
)
COS = OpDef("cos_control", Cos, domains=(_ANY,), order=3)


class MaxFirst(Function):
    """The largest element; a tie sends the whole gradient to the first of the tied."""

    def forward(self, x: Array) -> Array:
        return np.asarray(x.max())

    def _mask(self, x: Array) -> Array:
        mask = np.zeros(x.size, dtype=x.dtype)
        mask[int(np.argmax(x))] = 1
        return mask.reshape(x.shape)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy * Variable(self._mask(x.data))


class MaxSplit(MaxFirst):
    """A tie splits the gradient evenly among the tied elements."""

    def _mask(self, x: Array) -> Array:
        hits: Array = (x == x.max()).astype(x.dtype)
        share: Array = hits / hits.sum()
        return share


class MaxEveryTied(MaxFirst):
    def _mask(self, x: Array) -> Array:
        hits: Array = (x == x.max()).astype(x.dtype)
        return hits  # fault: each tied element gets it all


_TIES = Domain(-2.0, 2.0, distinct=True, margin=0.05)
MAX_FIRST = OpDef("max_first", MaxFirst, domains=(_TIES,), ties="first")
MAX_SPLIT = OpDef("max_split", MaxSplit, domains=(_TIES,), ties="split")
MAX_EVERY_TIED = OpDef("max_every_tied", MaxEveryTied, domains=(_TIES,), ties="split")


class SharedStateSquare(Function):
    """Keeps what backward needs on the class, not the instance: right for one call, wrong
    as soon as a second instance runs forward before the first one's backward."""

    last_input: Array = np.zeros(())

    def forward(self, x: Array) -> Array:
        type(self).last_input = x  # fault: state shared by every instance
        return x * x

    def backward(self, gy: Variable) -> Variable:
        return gy * Variable(2 * type(self).last_input)


class InPlaceExp(Function):
    def forward(self, x: Array) -> Array:
        y = np.exp(x)
        x *= 0.5  # fault: writes into its input
        return y

    def backward(self, gy: Variable) -> Variable:
        return gy * self.output()


class InPlaceGradTripled(Function):
    def forward(self, x: Array) -> Array:
        return 3 * x

    def backward(self, gy: Variable) -> Variable:
        gy.data *= 3  # fault: writes into the gradient it received
        return gy


SHARED_STATE_SQUARE = OpDef("shared_state_square", SharedStateSquare, domains=(_ANY,))
IN_PLACE_EXP = OpDef("in_place_exp", InPlaceExp, domains=(_ANY,))
IN_PLACE_GRAD_TRIPLED = OpDef("in_place_grad_tripled", InPlaceGradTripled, domains=(_ANY,))
