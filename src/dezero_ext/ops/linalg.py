"""Built-in plugin: ``matmul`` (``@``), N-D with broadcast batch dimensions, as NumPy defines it."""

from __future__ import annotations

import numpy as np
from numpy import ndarray

from dezero_ext.core.backend import BACKENDS, namespace_of
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Domain, ErrorInput, OpSet, ShapeRule
from dezero_ext.ops._util import reshape_array, sum_to_shape
from dezero_ext.ops.references import matmul_reference
from dezero_ext.ops.shape import reshape, sum_to, transpose
from dezero_ext.ops.tangents import tangent_sum, tangent_sum_array

ops = OpSet()


def _swap_last(x: Variable) -> Variable:
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


@ops.declare(
    "matmul",
    backends=BACKENDS,
    domains=Domain(-2.0, 2.0),
    shape_rule=ShapeRule.MATMUL,
    order=2,
    description="a @ b",
    reference=matmul_reference,
    error_inputs=(
        ErrorInput(
            (np.ones((2, 3)), np.ones((4, 5))), ValueError, r"inner dimensions 3 and 4 differ"
        ),
    ),
)
class MatMul(Function):
    """``a @ b``: 1-D operands are promoted as NumPy does (and the added axis removed)."""

    saves_output = False

    def forward(self, a: Array, b: Array) -> Array:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: {a.shape} @ {b.shape}: operands must have at least one dimension "
                "(use mul for a scalar)"
            )
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(
                f"matmul: {a.shape} @ {b.shape}: inner dimensions {k_a} and {k_b} differ"
            )
        if a.__class__ is not ndarray or b.__class__ is not ndarray:
            namespace_of(a, b, op="matmul")  # two libraries: refused, naming them
        try:
            return a @ b
        except ValueError:
            raise ValueError(
                f"matmul: {a.shape} @ {b.shape}: the batch dimensions {a.shape[:-2]} and "
                f"{b.shape[:-2]} do not broadcast"
            ) from None

    def backward(self, gy: Variable) -> tuple[Variable | None, Variable | None]:
        a, b = self.inputs
        a2 = a if a.ndim > 1 else reshape(a, (1, a.shape[0]))
        b2 = b if b.ndim > 1 else reshape(b, (b.shape[0], 1))
        gy2 = reshape(gy, _gy_shape(gy.shape, a.ndim, b.ndim))
        need_a, need_b = self.needs_input_grad
        ga = reshape(sum_to(matmul(gy2, _swap_last(b2)), a2.shape), a.shape) if need_a else None
        gb = reshape(sum_to(matmul(_swap_last(a2), gy2), b2.shape), b.shape) if need_b else None
        return ga, gb

    def backward_array(self, gy: Array) -> tuple[Array | None, Array | None]:
        x0, x1 = self.inputs
        a, b = self.input_array(0), self.input_array(1)
        a2 = a if a.ndim > 1 else reshape_array(a, (1, a.shape[0]))
        b2 = b if b.ndim > 1 else reshape_array(b, (b.shape[0], 1))
        gy2 = reshape_array(gy, _gy_shape(gy.shape, a.ndim, b.ndim))
        ga = gb = None
        if x0.requires_grad:
            ga = reshape_array(sum_to_shape(gy2 @ _swap_array(b2), a2.shape), a.shape)
        if x1.requires_grad:
            gb = reshape_array(sum_to_shape(_swap_array(a2) @ gy2, b2.shape), b.shape)
        return ga, gb

    def jvp(self, ta: Variable | None, tb: Variable | None) -> Variable | None:
        a, b = self.inputs  # bilinear: ta @ b + a @ tb
        return tangent_sum(
            self.output().shape,
            None if ta is None else matmul(ta, b),
            None if tb is None else matmul(a, tb),
        )

    def jvp_array(self, ta: Array | None, tb: Array | None) -> Array | None:
        a, b = self.input_array(0), self.input_array(1)
        return tangent_sum_array(
            np.shape(self.output_array()),
            None if ta is None else ta @ b,
            None if tb is None else a @ tb,
        )


def _swap_array(x: Array) -> Array:
    """``x`` with its last two axes swapped (``matrix_transpose`` in the Array API)."""
    if isinstance(x, ndarray):
        return np.swapaxes(x, -1, -2)
    return namespace_of(x, op="matmul").matrix_transpose(x)  # x's library


def _gy_shape(shape: tuple[int, ...], a_ndim: int, b_ndim: int) -> tuple[int, ...]:
    """The shape of ``a2 @ b2``: ``gy``'s with the axes NumPy dropped for 1-D operands."""
    if a_ndim == 1 and b_ndim == 1:
        return (1, 1)
    if a_ndim == 1:
        return (*shape[:-1], 1, shape[-1])
    if b_ndim == 1:
        return (*shape, 1)
    return shape


def matmul(a: Operand, b: Operand) -> Variable:
    """``a @ b`` (N-D, batch dimensions broadcast, 1-D cases as in NumPy)."""
    return MatMul()(a, b)
