"""Built-in plugin: ``matmul`` (``@``), N-D with broadcast batch dimensions, as NumPy defines it."""

from __future__ import annotations

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Domain, OpSet, ShapeRule
from dezero_ext.ops.shape import reshape, sum_to, transpose

ops = OpSet()


def _swap_last(x: Variable) -> Variable:
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


@ops.declare(
    "matmul", domains=Domain(-2.0, 2.0), shape_rule=ShapeRule.MATMUL, order=2, description="a @ b"
)
class MatMul(Function):
    """``a @ b``: 1-D operands are promoted as NumPy does (and the added axis removed)."""

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
        # gy with the axes NumPy dropped for 1-D operands put back: the shape of a2 @ b2.
        shape = gy.shape
        if a.ndim == 1 and b.ndim == 1:
            shape = (1, 1)
        elif a.ndim == 1:
            shape = (*shape[:-1], 1, shape[-1])
        elif b.ndim == 1:
            shape = (*shape, 1)
        gy2 = reshape(gy, shape)
        need_a, need_b = self.needs_input_grad
        ga = reshape(sum_to(matmul(gy2, _swap_last(b2)), a2.shape), a.shape) if need_a else None
        gb = reshape(sum_to(matmul(_swap_last(a2), gy2), b2.shape), b.shape) if need_b else None
        return ga, gb


def matmul(a: Operand, b: Operand) -> Variable:
    """``a @ b`` (N-D, batch dimensions broadcast, 1-D cases as in NumPy)."""
    return MatMul()(a, b)
