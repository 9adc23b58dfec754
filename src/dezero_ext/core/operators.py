"""The operator table: the built-in ops behind ``Variable``'s operators (see ``Operators``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:  # types only: variable.py imports this module
    from dezero_ext.core.function import Function
    from dezero_ext.core.variable import Index, Operand, Variable

__all__ = ["OPERATORS", "Operators"]

Axis: TypeAlias = "int | tuple[int, ...] | None"
"""What a reduction's ``axis`` accepts: an int, a tuple of ints, or None (all axes)."""


class Operators:
    """The built-in ops behind ``Variable``'s operators and methods.

    The core imports nothing above it, so it cannot name the ops; ``dezero_ext.ops`` fills
    this table (the one instance ``OPERATORS``) when the package is imported, with plain
    attribute assignments — no registry, no plugin lookup on the call path. Scalar ops and
    binary ops are classes (called as ``OPERATORS.MulScalar(c)(x)``), the rest typed
    functions.
    """

    __slots__ = (
        "Add",
        "AddScalar",
        "Div",
        "DivScalar",
        "Mul",
        "MulScalar",
        "Neg",
        "Pow",
        "Power",
        "RDivScalar",
        "RPowScalar",
        "RSubScalar",
        "Sub",
        "abs",
        "get_item",
        "matmul",
        "max",
        "mean",
        "min",
        "reshape",
        "sum",
        "transpose",
    )

    Add: Callable[[], Function]
    Sub: Callable[[], Function]
    Mul: Callable[[], Function]
    Div: Callable[[], Function]
    Power: Callable[[], Function]
    Neg: Callable[[], Function]
    AddScalar: Callable[[float], Function]
    RSubScalar: Callable[[float], Function]
    MulScalar: Callable[[float], Function]
    DivScalar: Callable[[float], Function]
    RDivScalar: Callable[[float], Function]
    Pow: Callable[[float], Function]
    RPowScalar: Callable[[float], Function]
    matmul: Callable[[Operand, Operand], Variable]
    get_item: Callable[[Operand, Index], Variable]
    transpose: Callable[[Operand, Sequence[int] | None], Variable]
    reshape: Callable[[Operand, Sequence[int] | int], Variable]
    sum: Callable[[Operand, Axis, bool], Variable]
    mean: Callable[[Operand, Axis, bool], Variable]
    max: Callable[[Operand, Axis, bool], Variable]
    min: Callable[[Operand, Axis, bool], Variable]
    abs: Callable[[Operand], Variable]

    def __getattr__(self, name: str) -> object:  # only reached for an unbound operator
        raise RuntimeError(
            f"dezero_ext: the operator op {name!r} is not bound; import dezero_ext (its "
            "dezero_ext.ops binds the operators) before using Variable operators"
        )


OPERATORS: Final = Operators()
"""The operator table ``dezero_ext.ops`` binds at import (see ``Operators``)."""
