"""Built-in plugin: the arithmetic operators ``+ - * / **`` and unary ``-``.

Binary ops broadcast their inputs as NumPy does; their backward sums each gradient back to
its input's shape.
"""

from __future__ import annotations

import math

import numpy as np

from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.hookspecs import hookimpl
from dezero_ext.opdef import Case, Domain, Draw, OpDef, Sampler, ShapeRule
from dezero_ext.ops.shape import sum_to


def _broadcast_error(op: str, x0: Array, x1: Array) -> ValueError:
    return ValueError(
        f"{op}: shapes {x0.shape} and {x1.shape} do not broadcast "
        "(trailing dimensions must be equal or 1)"
    )


def _unbroadcast(gx: Variable, x: Variable) -> Variable:
    return gx if gx.data.shape == x.data.shape else sum_to(gx, x.data.shape)


class Add(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        try:
            return x0 + x1
        except ValueError:
            raise _broadcast_error("add", x0, x1) from None

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        return _unbroadcast(gy, x0), _unbroadcast(gy, x1)


class Sub(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        try:
            return x0 - x1
        except ValueError:
            raise _broadcast_error("sub", x0, x1) from None

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        return _unbroadcast(gy, x0), _unbroadcast(-gy, x1)


class Mul(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        try:
            return x0 * x1
        except ValueError:
            raise _broadcast_error("mul", x0, x1) from None

    def backward(self, gy: Variable) -> tuple[Variable | None, Variable | None]:
        x0, x1 = self.inputs
        need0, need1 = self.needs_input_grad
        return (
            _unbroadcast(gy * x1, x0) if need0 else None,
            _unbroadcast(gy * x0, x1) if need1 else None,
        )


class Div(Function):
    def forward(self, x0: Array, x1: Array) -> Array:
        try:
            return x0 / x1
        except ValueError:
            raise _broadcast_error("div", x0, x1) from None

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        gx0 = gy / x1
        return _unbroadcast(gx0, x0), _unbroadcast(-gx0 * x0 / x1, x1)


class Neg(Function):
    def forward(self, x: Array) -> Array:
        return -x

    def backward(self, gy: Variable) -> Variable:
        return -gy


class Pow(Function):
    """``x ** c`` for a constant exponent ``c``."""

    def __init__(self, c: float) -> None:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            raise TypeError(
                f"pow: the exponent must be a Python number, got {type(c).__name__} {c!r}; "
                "for a Variable exponent use power(x, y) or x ** y"
            )
        self.c = c

    def forward(self, x: Array) -> Array:
        return x**self.c

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return PowGrad(self.c)(x, gy)


class PowGrad(Function):
    """``c * x ** (c - 1) * gy``: ``pow``'s gradient as one op instead of three (the hot path
    of every ``x ** c``). Differentiable to any order: its own gradient is built from
    ``PowGrad`` with the exponent lowered by one."""

    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: Array, gy: Array) -> Array:
        c = self.c
        if c == 0:
            return np.zeros_like(gy * x)  # the derivative of a constant, even at x = 0
        if c == 1:
            return gy * np.ones_like(x)
        if c == 2:
            return 2 * x * gy
        return c * x ** (c - 1) * gy

    def backward(self, g: Variable) -> tuple[Variable, Variable]:
        x, gy = self.inputs
        c = self.c
        gx = MulScalar(c)(PowGrad(c - 1)(x, gy * g)) if c not in (0, 1) else g * 0
        return _unbroadcast(gx, x), _unbroadcast(PowGrad(c)(x, g), gy)


class Log(Function):
    """Natural logarithm: nan (with NumPy's warning) below 0, ``-inf`` at 0.

    Built in because ``power``'s gradient needs it; the math plugin registers it as ``log``.
    """

    def forward(self, x: Array) -> Array:
        return np.log(x)

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / x


class Power(Function):
    """``x ** y`` with both base and exponent Variables (the base must be positive)."""

    def forward(self, x: Array, y: Array) -> Array:
        try:
            return x**y
        except ValueError:
            raise _broadcast_error("power", x, y) from None

    def backward(self, gz: Variable) -> tuple[Variable, Variable]:
        x, y = self.inputs
        z = self.output()
        gx = gz * y * power(x, y - 1)
        gy = gz * z * Log()(x)
        return _unbroadcast(gx, x), _unbroadcast(gy, y)


class _ScalarOp(Function):
    """An op between a Variable and a Python number ``c``: the number is a parameter, not an
    input, so no constant Variable is made and no gradient is computed for it."""

    def __init__(self, c: float) -> None:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            raise TypeError(
                f"{type(self).__name__}: the constant must be a Python number, got "
                f"{type(c).__name__} {c!r}"
            )
        self.c = c


class AddScalar(_ScalarOp):
    """``x + c`` (and ``x - c`` as ``x + (-c)``, which IEEE arithmetic makes identical)."""

    def forward(self, x: Array) -> Array:
        return x + self.c

    def backward(self, gy: Variable) -> Variable:
        return gy


class MulScalar(_ScalarOp):
    """``x * c``."""

    def forward(self, x: Array) -> Array:
        return x * self.c

    def backward(self, gy: Variable) -> Variable:
        return MulScalar(self.c)(gy)


class RSubScalar(_ScalarOp):
    """``c - x``."""

    def forward(self, x: Array) -> Array:
        return self.c - x

    def backward(self, gy: Variable) -> Variable:
        return -gy


class DivScalar(_ScalarOp):
    """``x / c``."""

    def forward(self, x: Array) -> Array:
        return x / self.c

    def backward(self, gy: Variable) -> Variable:
        return DivScalar(self.c)(gy)


class RDivScalar(_ScalarOp):
    """``c / x``; the gradient ``-c / x**2 = -y / x`` reuses the output."""

    def forward(self, x: Array) -> Array:
        return self.c / x

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return -gy * self.output() / x


class RPowScalar(_ScalarOp):
    """``c ** x`` for a positive constant ``c``; the gradient ``log(c) * y`` reuses the output."""

    def __init__(self, c: float) -> None:
        super().__init__(c)
        if not c > 0:  # log(c) is the gradient's factor: real only for c > 0
            raise ValueError(
                f"rpow_scalar: the base must be > 0, got {c!r}; for another base use "
                "power(c, x), which follows NumPy"
            )

    def forward(self, x: Array) -> Array:
        return self.c**x

    def backward(self, gy: Variable) -> Variable:
        return MulScalar(math.log(self.c))(gy * self.output())


def add(x0: Operand, x1: Operand) -> Variable:
    """``x0 + x1`` with broadcasting."""
    return Add()(x0, x1)


def sub(x0: Operand, x1: Operand) -> Variable:
    """``x0 - x1`` with broadcasting."""
    return Sub()(x0, x1)


def mul(x0: Operand, x1: Operand) -> Variable:
    """``x0 * x1`` with broadcasting."""
    return Mul()(x0, x1)


def div(x0: Operand, x1: Operand) -> Variable:
    """``x0 / x1`` with broadcasting."""
    return Div()(x0, x1)


def neg(x: Operand) -> Variable:
    """``-x``."""
    return Neg()(x)


def pow(x: Operand, c: float) -> Variable:  # noqa: A001 - DeZero's name
    """``x ** c`` for a constant (Python number) exponent ``c``."""
    return Pow(c)(x)


def power(x: Operand, y: Operand) -> Variable:
    """``x ** y`` where the exponent ``y`` is a Variable too (``x`` > 0 for a real gradient)."""
    return Power()(x, y)


def add_scalar(x: Operand, c: float) -> Variable:
    """``x + c`` for a Python number ``c``."""
    return AddScalar(c)(x)


def mul_scalar(x: Operand, c: float) -> Variable:
    """``x * c`` for a Python number ``c``."""
    return MulScalar(c)(x)


def rsub_scalar(x: Operand, c: float) -> Variable:
    """``c - x`` for a Python number ``c``."""
    return RSubScalar(c)(x)


def div_scalar(x: Operand, c: float) -> Variable:
    """``x / c`` for a Python number ``c``."""
    return DivScalar(c)(x)


def rdiv_scalar(x: Operand, c: float) -> Variable:
    """``c / x`` for a Python number ``c``."""
    return RDivScalar(c)(x)


def rpow_scalar(x: Operand, c: float) -> Variable:
    """``c ** x`` for a positive Python number ``c``."""
    return RPowScalar(c)(x)


def _scalar_sampler(constants: list[float], domain: Domain | None = None) -> Sampler:
    def sample(draw: Draw) -> Case:
        x = draw.array(draw.shape(max_dims=2), domain)
        return Case((x,), {"c": draw.choice(constants)})

    return sample


def _sample_pow(draw: Draw) -> Case:
    c = draw.choice([2, 3, -1, 0.5, 1.5, -2.5, 0, 1])
    x = draw.array(draw.shape(max_dims=2), Domain(0.2, 3.0) if c != int(c) or c < 0 else None)
    return Case((x,), {"c": c})


_ANY = Domain(-3.0, 3.0)
_NONZERO = Domain(-3.0, 3.0, exclude=(0.0,), margin=0.3)


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    broadcast = ShapeRule.BROADCAST
    return [
        OpDef(
            "add",
            Add,
            arity=2,
            domains=(_ANY,),
            shape_rule=broadcast,
            order=2,
            description="x0 + x1",
        ),
        OpDef(
            "sub",
            Sub,
            arity=2,
            domains=(_ANY,),
            shape_rule=broadcast,
            order=2,
            description="x0 - x1",
        ),
        OpDef(
            "mul",
            Mul,
            arity=2,
            domains=(_ANY,),
            shape_rule=broadcast,
            order=3,
            description="x0 * x1",
        ),
        OpDef(
            "div",
            Div,
            arity=2,
            domains=(_ANY, _NONZERO),
            shape_rule=broadcast,
            order=3,
            description="x0 / x1",
        ),
        OpDef("neg", Neg, domains=(_ANY,), order=2, description="-x"),
        OpDef(
            "pow",
            Pow,
            domains=(_ANY,),
            sample=_sample_pow,
            order=3,
            description="x ** c, constant c",
        ),
        OpDef(
            "add_scalar",
            AddScalar,
            domains=(_ANY,),
            order=2,
            sample=_scalar_sampler([0, 1, -2.5, 1e3]),
            description="x + c, c a number",
        ),
        OpDef(
            "mul_scalar",
            MulScalar,
            domains=(_ANY,),
            order=2,
            sample=_scalar_sampler([0, 2, -0.5, 3.75]),
            description="x * c, c a number",
        ),
        OpDef(
            "rsub_scalar",
            RSubScalar,
            domains=(_ANY,),
            order=2,
            sample=_scalar_sampler([0, 1, -2.5]),
            description="c - x, c a number",
        ),
        OpDef(
            "div_scalar",
            DivScalar,
            domains=(_ANY,),
            order=2,
            sample=_scalar_sampler([1, -2, 0.25, 7.5]),
            description="x / c, c a number",
        ),
        OpDef(
            "rdiv_scalar",
            RDivScalar,
            domains=(_NONZERO,),
            order=3,
            sample=_scalar_sampler([1, -2, 0.5], _NONZERO),
            description="c / x, c a number",
        ),
        OpDef(
            "rpow_scalar",
            RPowScalar,
            domains=(_ANY,),
            order=3,
            sample=_scalar_sampler([2, 0.5, 10]),
            description="c ** x, c > 0 a number",
        ),
        OpDef(
            "power",
            Power,
            arity=2,
            domains=(Domain(0.2, 3.0), Domain(-2.0, 2.0)),
            shape_rule=broadcast,
            order=2,
            description="x ** y, y a Variable; x > 0",
        ),
    ]
