"""Built-in ops: the arithmetic operators ``+ - * / **``, unary ``-``, ``abs`` and ``log``.

Binary ops broadcast their inputs as NumPy does; their backward sums each gradient back to
its input's shape. A Python number on one side of an operator becomes a parameter of a
scalar op (``x * 2.0`` is ``mul_scalar(x, c=2.0)``): no constant Variable is made and no
gradient is computed for it.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numpy import ndarray

from dezero_ext.core.backend import BACKENDS, namespace_of
from dezero_ext.core.function import Function
from dezero_ext.core.variable import Array, Operand, Variable
from dezero_ext.opdef import Case, Domain, Draw, ErrorInput, OpSet, Sampler, ShapeRule
from dezero_ext.ops._util import broadcast_error, sum_to_shape
from dezero_ext.ops.references import elementwise_reference
from dezero_ext.ops.shape import sum_to, unbroadcast
from dezero_ext.ops.tangents import tangent_sum, tangent_sum_array

ops = OpSet()

_ANY = Domain(-3.0, 3.0)
_NONZERO = Domain(-3.0, 3.0, exclude=(0.0,), margin=0.3)
_BROADCAST = ShapeRule.BROADCAST


# ---------------------------------------------------------------------- binary ops
@ops.declare(
    "add",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    shape_rule=_BROADCAST,
    order=2,
    description="x0 + x1",
    reference=elementwise_reference(operator.add),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Add(Function):
    saves_inputs = saves_output = False

    def forward(self, x0: Array, x1: Array) -> Array:
        self.shapes = (x0.shape, x1.shape)
        if x0.__class__ is not ndarray or x1.__class__ is not ndarray:
            namespace_of(x0, x1, op="add")  # two libraries: refused, naming them
        try:
            return x0 + x1
        except ValueError:
            raise broadcast_error("add", x0, x1) from None

    def forward_scalar(self, x0: Array, x1: Array) -> Array:
        return x0 + x1

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} + {x1}", ("{gy}", "{gy}"), {})

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        s0, s1 = self.shapes
        return sum_to(gy, s0), sum_to(gy, s1)

    def backward_array(self, gy: Array) -> tuple[Array, Array]:
        s0, s1 = self.shapes
        return sum_to_shape(gy, s0), sum_to_shape(gy, s1)

    def jvp(self, t0: Variable | None, t1: Variable | None) -> Variable | None:
        return tangent_sum(np.broadcast_shapes(*self.shapes), t0, t1)

    def jvp_array(self, t0: Array | None, t1: Array | None) -> Array | None:
        return tangent_sum_array(np.broadcast_shapes(*self.shapes), t0, t1)


def add(x0: Operand, x1: Operand) -> Variable:
    """``x0 + x1`` with broadcasting."""
    return Add()(x0, x1)


@ops.declare(
    "sub",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    shape_rule=_BROADCAST,
    order=2,
    description="x0 - x1",
    reference=elementwise_reference(operator.sub),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Sub(Function):
    saves_inputs = saves_output = False

    def forward(self, x0: Array, x1: Array) -> Array:
        self.shapes = (x0.shape, x1.shape)
        if x0.__class__ is not ndarray or x1.__class__ is not ndarray:
            namespace_of(x0, x1, op="sub")  # two libraries: refused, naming them
        try:
            return x0 - x1
        except ValueError:
            raise broadcast_error("sub", x0, x1) from None

    def forward_scalar(self, x0: Array, x1: Array) -> Array:
        return x0 - x1

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} - {x1}", ("{gy}", "-{gy}"), {})

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        s0, s1 = self.shapes
        return sum_to(gy, s0), sum_to(-gy, s1)

    def backward_array(self, gy: Array) -> tuple[Array, Array]:
        s0, s1 = self.shapes
        return sum_to_shape(gy, s0), sum_to_shape(-gy, s1)

    def jvp(self, t0: Variable | None, t1: Variable | None) -> Variable | None:
        return tangent_sum(np.broadcast_shapes(*self.shapes), t0, None if t1 is None else -t1)

    def jvp_array(self, t0: Array | None, t1: Array | None) -> Array | None:
        shape = np.broadcast_shapes(*self.shapes)
        return tangent_sum_array(shape, t0, None if t1 is None else -t1)


def sub(x0: Operand, x1: Operand) -> Variable:
    """``x0 - x1`` with broadcasting."""
    return Sub()(x0, x1)


@ops.declare(
    "mul",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    shape_rule=_BROADCAST,
    order=3,
    description="x0 * x1",
    reference=elementwise_reference(operator.mul),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Mul(Function):
    saves_output = False

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.__class__ is not ndarray or x1.__class__ is not ndarray:
            namespace_of(x0, x1, op="mul")  # two libraries: refused, naming them
        try:
            return x0 * x1
        except ValueError:
            raise broadcast_error("mul", x0, x1) from None

    forward_scalar = forward  # operators: NumPy scalars in, a NumPy scalar out

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} * {x1}", ("{gy} * {x1}", "{gy} * {x0}"), {})

    def backward(self, gy: Variable) -> tuple[Variable | None, Variable | None]:
        x0, x1 = self.inputs
        need0, need1 = self.needs_input_grad
        return (
            unbroadcast(gy * x1, x0) if need0 else None,
            unbroadcast(gy * x0, x1) if need1 else None,
        )

    def backward_array(self, gy: Array) -> tuple[Array | None, Array | None]:
        x0, x1 = self.inputs
        a, b = self.input_array(0), self.input_array(1)
        return (
            sum_to_shape(gy * b, a.shape) if x0.requires_grad else None,
            sum_to_shape(gy * a, b.shape) if x1.requires_grad else None,
        )

    def jvp(self, t0: Variable | None, t1: Variable | None) -> Variable | None:
        x0, x1 = self.inputs
        return tangent_sum(
            self.output().shape, None if t0 is None else t0 * x1, None if t1 is None else x0 * t1
        )

    def jvp_array(self, t0: Array | None, t1: Array | None) -> Array | None:
        a, b = self.input_array(0), self.input_array(1)
        return tangent_sum_array(
            np.broadcast_shapes(a.shape, b.shape),
            None if t0 is None else t0 * b,
            None if t1 is None else a * t1,
        )


def mul(x0: Operand, x1: Operand) -> Variable:
    """``x0 * x1`` with broadcasting."""
    return Mul()(x0, x1)


@ops.declare(
    "div",
    backends=BACKENDS,
    elementwise=True,
    domains=(_ANY, _NONZERO),
    shape_rule=_BROADCAST,
    order=3,
    description="x0 / x1",
    reference=elementwise_reference(operator.truediv),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Div(Function):
    saves_output = False

    def forward(self, x0: Array, x1: Array) -> Array:
        if x0.__class__ is not ndarray or x1.__class__ is not ndarray:
            namespace_of(x0, x1, op="div")  # two libraries: refused, naming them
        try:
            return x0 / x1
        except ValueError:
            raise broadcast_error("div", x0, x1) from None

    forward_scalar = forward  # operators: NumPy scalars in, a NumPy scalar out

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} / {x1}", ("{gy} / {x1}", "-({gy} / {x1}) * {x0} / {x1}"), {})

    def backward(self, gy: Variable) -> tuple[Variable, Variable]:
        x0, x1 = self.inputs
        gx0 = gy / x1
        return unbroadcast(gx0, x0), unbroadcast(-gx0 * x0 / x1, x1)

    def backward_array(self, gy: Array) -> tuple[Array, Array]:
        a, b = self.input_array(0), self.input_array(1)
        ga = gy / b
        return sum_to_shape(ga, a.shape), sum_to_shape(-ga * a / b, b.shape)

    def jvp(self, t0: Variable | None, t1: Variable | None) -> Variable | None:
        x0, x1 = self.inputs  # (t0 - x0 / x1 * t1) / x1
        return tangent_sum(
            self.output().shape,
            None if t0 is None else t0 / x1,
            None if t1 is None else -(x0 / x1) * t1 / x1,
        )

    def jvp_array(self, t0: Array | None, t1: Array | None) -> Array | None:
        a, b = self.input_array(0), self.input_array(1)
        return tangent_sum_array(
            np.broadcast_shapes(a.shape, b.shape),
            None if t0 is None else t0 / b,
            None if t1 is None else -(a / b) * t1 / b,
        )


def div(x0: Operand, x1: Operand) -> Variable:
    """``x0 / x1`` with broadcasting."""
    return Div()(x0, x1)


@ops.declare(
    "power",
    backends=BACKENDS,
    elementwise=True,
    domains=(Domain(0.2, 3.0, outside="nan"), Domain(-2.0, 2.0)),
    shape_rule=_BROADCAST,
    order=2,
    description="x ** y, y a Variable; x > 0",
    reference=elementwise_reference(math.pow),
    error_inputs=(
        ErrorInput(
            (np.ones(3), np.ones(4)), ValueError, r"shapes \(3,\) and \(4,\) do not broadcast"
        ),
    ),
)
class Power(Function):
    """``x ** y`` with both base and exponent Variables (a real gradient needs ``x >= 0``).

    At a zero base the gradients follow PyTorch: ``d/dy`` is 0 where ``y >= 0`` (``0 ** y``
    is constant there; the formula's ``0 * log(0)`` would be nan) and ``d/dx`` is 0 where
    ``y == 0`` (``0 * 0 ** -1`` would be nan); a true infinity (``d/dx`` of ``x ** 0.5``) stays.
    """

    def forward(self, x: Array, y: Array) -> Array:
        if x.__class__ is not ndarray or y.__class__ is not ndarray:
            namespace_of(x, y, op="power")  # two libraries: refused, naming them
        try:
            return x**y
        except ValueError:
            raise broadcast_error("power", x, y) from None

    def backward(self, gz: Variable) -> tuple[Variable | None, Variable | None]:
        x, y = self.inputs
        need_x, need_y = self.needs_input_grad  # 0.0 ** t: no (infinite) d/dx to compute
        base_x = log_x = x
        at_zero = _at_zero_base(self.input_array(0), self.input_array(1))
        if at_zero is not None:  # the formulas read 1 for x there: constants, so 0 gradients
            base_x = x + _as_dtype(at_zero[0], x.dtype)
            log_x = x + _as_dtype(at_zero[1], x.dtype)
        return (
            unbroadcast(gz * y * power(base_x, y - 1), x) if need_x else None,
            unbroadcast(gz * self.output() * Log()(log_x), y) if need_y else None,
        )

    def backward_array(self, gz: Array) -> tuple[Array | None, Array | None]:
        x, y = self.inputs
        a, b = self.input_array(0), self.input_array(1)
        if not isinstance(a, ndarray | np.generic):  # another library's arrays
            return self._backward_array_api(gz, a, b)
        base_a = log_a = a
        at_zero = _at_zero_base(a, b)
        if at_zero is not None:
            base_a, log_a = np.where(at_zero[0], 1, a), np.where(at_zero[1], 1, a)
        return (
            sum_to_shape(gz * b * base_a ** (b - 1), a.shape) if x.requires_grad else None,
            sum_to_shape(gz * self.output_array() * np.log(log_a), b.shape)
            if y.requires_grad
            else None,
        )

    def _backward_array_api(
        self, gz: Array, a: Array, b: Array
    ) -> tuple[Array | None, Array | None]:
        """``backward_array`` on another library's arrays: the zero-base masks (in ``a``'s
        dtype, never tested with ``any``, which would compute a Dask graph) are added to the
        base, which is 0 where they are 1: NumPy's ``where(mask, 1, a)``."""
        x, y = self.inputs
        at_zero = _at_zero_base(a, b)
        assert at_zero is not None  # always masks outside NumPy
        log = namespace_of(a, b, op="power").log
        return (
            sum_to_shape(gz * b * (a + at_zero[0]) ** (b - 1), a.shape)
            if x.requires_grad
            else None,
            sum_to_shape(gz * self.output_array() * log(a + at_zero[1]), b.shape)
            if y.requires_grad
            else None,
        )

    def jvp(self, tx: Variable | None, ty: Variable | None) -> Variable | None:
        x, y = self.inputs
        base_x = log_x = x
        at_zero = _at_zero_base(self.input_array(0), self.input_array(1))
        if at_zero is not None:  # as in backward: the conventions at a zero base
            base_x = x + _as_dtype(at_zero[0], x.dtype)
            log_x = x + _as_dtype(at_zero[1], x.dtype)
        return tangent_sum(
            self.output().shape,
            None if tx is None else tx * y * power(base_x, y - 1),
            None if ty is None else ty * self.output() * Log()(log_x),
        )

    def jvp_array(self, tx: Array | None, ty: Array | None) -> Array | None:
        a, b = self.input_array(0), self.input_array(1)
        base_a = log_a = a
        at_zero = _at_zero_base(a, b)
        if at_zero is not None:
            base_a, log_a = np.where(at_zero[0], 1, a), np.where(at_zero[1], 1, a)
        return tangent_sum_array(
            np.shape(self.output_array()),
            None if tx is None else tx * b * base_a ** (b - 1),
            None if ty is None else ty * self.output_array() * np.log(log_a),
        )


def _at_zero_base(x: Array, y: Array) -> tuple[Array, Array] | None:
    """Where ``x ** y``'s gradient formulas give nan at a zero base but the gradient is 0:
    ``(x == 0 and y == 0)`` for ``d/dx``, ``(x == 0 and y >= 0)`` for ``d/dy``; None when no
    base is 0 (the usual case, one comparison). On another library's arrays: always the
    masks, in ``x``'s dtype (``any`` would compute a Dask graph)."""
    zero = x == 0
    if not isinstance(x, ndarray | np.generic):
        xp = namespace_of(x, y, op="power")
        return xp.astype(zero & (y == 0), x.dtype), xp.astype(zero & (y >= 0), x.dtype)
    if not zero.any():
        return None
    return zero & (y == 0), zero & (y >= 0)


def _as_dtype(mask: Array, dtype: np.dtype[np.generic]) -> Array:
    """A zero-base mask in ``dtype`` (another library's masks are made in it already)."""
    return mask.astype(dtype) if isinstance(mask, ndarray | np.generic) else mask


def power(x: Operand, y: Operand) -> Variable:
    """``x ** y`` where the exponent ``y`` is a Variable too (``x`` > 0 for a real gradient)."""
    return Power()(x, y)


# ---------------------------------------------------------------------- unary ops
@ops.declare(
    "neg",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=2,
    description="-x",
    reference=elementwise_reference(operator.neg),
)
class Neg(Function):
    saves_inputs = saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return -x
        return np.negative(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return -x

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("-{x0}", ("-{gy}",), {})

    def backward(self, gy: Variable) -> Variable:
        return -gy

    def backward_array(self, gy: Array) -> Array:
        return -gy

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def neg(x: Operand) -> Variable:
    """``-x``."""
    return Neg()(x)


@ops.declare(
    "abs",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(-2.0, 2.0, kinks=(0.0,), kink_rule="mean"),
    order=2,
    description="|x|; abs'(0) = 0",
    reference=elementwise_reference(math.fabs),
)
class Abs(Function):
    """``|x|``; the derivative at the kink 0 is 0, the mean of the one-sided derivatives."""

    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return namespace_of(x, op="abs").abs(x)  # type: ignore[no-any-return]  # x's library
        return np.abs(x, out=...)

    def _sign(self) -> Array:
        x = self.input_array()
        if isinstance(x, ndarray | np.generic):
            return np.sign(x)
        return namespace_of(x, op="abs").sign(x)  # x's library

    def backward(self, gy: Variable) -> Variable:
        # piecewise linear: the slope is a constant of x (its derivative is 0 off the kink)
        return gy * Variable(self._sign())

    def backward_array(self, gy: Array) -> Array:
        return gy * self._sign()

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def abs(x: Operand) -> Variable:  # noqa: A001 - NumPy's and DeZero's name
    """``|x|``, elementwise; the gradient at 0 is 0."""
    return Abs()(x)


@ops.declare(
    "log",
    backends=BACKENDS,
    elementwise=True,
    domains=Domain(0.2, 4.0, positive=True, outside="nan"),
    order=3,
    description="natural logarithm; nan below 0",
    reference=elementwise_reference(math.log),
)
class Log(Function):
    """Natural logarithm: nan (with NumPy's warning) below 0, ``-inf`` at 0."""

    saves_output = False

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return namespace_of(x, op="log").log(x)  # type: ignore[no-any-return]  # x's library
        return np.log(x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return np.log(x)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{log}({x0})", ("{gy} / {x0}",), {"log": np.log})

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return gy / x

    def backward_array(self, gy: Array) -> Array:
        return gy / self.input_array()

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def log(x: Operand) -> Variable:
    """Natural logarithm, elementwise (nan below 0, as NumPy)."""
    return Log()(x)


def _sample_pow(draw: Draw) -> Case:
    c = draw.choice([2, 3, -1, 0.5, 1.5, -2.5, 0, 1])
    x = draw.array(draw.shape(max_dims=2), Domain(0.2, 3.0) if c != int(c) or c < 0 else None)
    return Case((x,), {"c": c})


@ops.declare(
    "pow",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    sample=_sample_pow,
    order=3,
    description="x ** c, constant c",
)
class Pow(Function):
    """``x ** c`` for a constant exponent ``c``."""

    def __init__(self, c: float) -> None:
        if c.__class__ is not float and (isinstance(c, bool) or not isinstance(c, (int, float))):
            raise TypeError(
                f"pow: the exponent c must be a Python number, got {type(c).__name__} {c!r}; "
                "for a Variable exponent use power(x, y) or x ** y"
            )
        self.c = c

    saves_output = False

    def forward(self, x: Array) -> Array:
        return x**self.c

    def forward_scalar(self, x: Array) -> Array:
        # what ``x ** c`` does on an array: NumPy squares and takes square roots for these
        # two exponents (a scalar's ``**`` would call pow, which may round otherwise)
        c = self.c
        if c == 2:
            return x * x
        if c == 0.5:
            return np.sqrt(x)
        return np.power(x, c)

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        c = self.c  # as forward_scalar and _pow_grad compute
        if c in (0, 1):
            return None
        if c == 2:
            return ("{x0} * {x0}", ("2 * {x0} * {gy}",), {})
        grad = "{c} * {x0} ** {c1} * {gy}"
        if c == 0.5:
            return ("{sqrt}({x0})", (grad,), {"sqrt": np.sqrt, "c": c, "c1": c - 1})
        return ("{power}({x0}, {c})", (grad,), {"power": np.power, "c": c, "c1": c - 1})

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return PowGrad(self.c)(x, gy)

    def backward_array(self, gy: Array) -> Array:
        return _pow_grad(self.c, self.input_array(), gy)

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def pow(x: Operand, c: float) -> Variable:  # noqa: A001 - DeZero's name
    """``x ** c`` for a constant (Python number) exponent ``c``."""
    return Pow(c)(x)


def _pow_grad(c: float, x: Array, gy: Array) -> Array:
    """``c * x ** (c - 1) * gy``, exact at the exponents where that formula is not."""
    if c == 0:  # the derivative of a constant, even at x = 0
        product = gy * x
        if isinstance(product, ndarray | np.generic):
            return np.zeros_like(product)
        return namespace_of(product, op="pow").zeros_like(product)  # its library
    if c == 1:
        if isinstance(x, ndarray | np.generic):
            return gy * np.ones_like(x)
        return gy * namespace_of(x, op="pow").ones_like(x)  # its library
    if c == 2:
        return 2 * x * gy
    return c * x ** (c - 1) * gy


class PowGrad(Function):
    """``c * x ** (c - 1) * gy``: ``pow``'s gradient as one op instead of three (the hot path
    of every ``x ** c``). Differentiable to any order: its own gradient is built from
    ``PowGrad`` with the exponent lowered by one. Checked through ``pow``'s order-3 checks."""

    def __init__(self, c: float) -> None:
        self.c = c

    saves_output = False

    def forward(self, x: Array, gy: Array) -> Array:
        return _pow_grad(self.c, x, gy)

    def backward(self, g: Variable) -> tuple[Variable, Variable]:
        x, gy = self.inputs
        c = self.c
        gx = MulScalar(c)(PowGrad(c - 1)(x, gy * g)) if c not in (0, 1) else g * 0
        return unbroadcast(gx, x), unbroadcast(PowGrad(c)(x, g), gy)

    def jvp(self, tx: Variable | None, tgy: Variable | None) -> Variable | None:
        x, gy = self.inputs  # d(c x^(c-1) gy) = c (c-1) x^(c-2) gy tx + c x^(c-1) tgy
        c = self.c
        term_x = None
        if tx is not None and c not in (0, 1):
            term_x = MulScalar(c)(PowGrad(c - 1)(x, gy * tx))
        term_gy = None if tgy is None else PowGrad(c)(x, tgy)
        return tangent_sum(self.output().shape, term_x, term_gy)


# ---------------------------------------------------------------------- scalar ops
def _scalar_sampler(constants: list[float], domain: Domain | None = None) -> Sampler:
    def sample(draw: Draw) -> Case:
        x = draw.array(draw.shape(max_dims=2), domain)
        return Case((x,), {"c": draw.choice(constants)})

    return sample


class _ScalarOp(Function):
    """An op between a Variable and a Python number ``c``: the number is a parameter, not an
    input, so no constant Variable is made and no gradient is computed for it."""

    saves_inputs = saves_output = False

    def __init__(self, c: float) -> None:
        if c.__class__ is not float and (isinstance(c, bool) or not isinstance(c, (int, float))):
            raise TypeError(
                f"{self._label()}: the constant c must be a Python number, got "
                f"{type(c).__name__} {c!r}"
            )
        self.c = c


@ops.declare(
    "add_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=2,
    sample=_scalar_sampler([0, 1, -2.5, 1e3]),
    description="x + c, c a number",
)
class AddScalar(_ScalarOp):
    """``x + c`` (and ``x - c`` as ``x + (-c)``, which IEEE arithmetic makes identical)."""

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return x + self.c
        return np.add(x, self.c, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return x + self.c

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} + {c}", ("{gy}",), {"c": self.c})

    def backward(self, gy: Variable) -> Variable:
        return gy

    def backward_array(self, gy: Array) -> Array:
        return gy

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def add_scalar(x: Operand, c: float) -> Variable:
    """``x + c`` for a Python number ``c``."""
    return AddScalar(c)(x)


@ops.declare(
    "mul_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=2,
    sample=_scalar_sampler([0, 2, -0.5, 3.75]),
    description="x * c, c a number",
)
class MulScalar(_ScalarOp):
    """``x * c``."""

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return x * self.c
        return np.multiply(x, self.c, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return x * self.c

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} * {c}", ("{gy} * {c}",), {"c": self.c})

    def backward(self, gy: Variable) -> Variable:
        return MulScalar(self.c)(gy)

    def backward_array(self, gy: Array) -> Array:
        return gy * self.c

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def mul_scalar(x: Operand, c: float) -> Variable:
    """``x * c`` for a Python number ``c``."""
    return MulScalar(c)(x)


@ops.declare(
    "rsub_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=2,
    sample=_scalar_sampler([0, 1, -2.5]),
    description="c - x, c a number",
)
class RSubScalar(_ScalarOp):
    """``c - x``."""

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return self.c - x
        return np.subtract(self.c, x, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return self.c - x

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{c} - {x0}", ("-{gy}",), {"c": self.c})

    def backward(self, gy: Variable) -> Variable:
        return -gy

    def backward_array(self, gy: Array) -> Array:
        return -gy

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def rsub_scalar(x: Operand, c: float) -> Variable:
    """``c - x`` for a Python number ``c``."""
    return RSubScalar(c)(x)


@ops.declare(
    "div_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=2,
    sample=_scalar_sampler([1, -2, 0.25, 7.5]),
    description="x / c, c a number",
)
class DivScalar(_ScalarOp):
    """``x / c``."""

    def forward(self, x: Array) -> Array:
        if x.__class__ is not ndarray:  # another library's array (core/backend.py)
            return x / self.c
        return np.divide(x, self.c, out=...)

    def forward_scalar(self, x: Array) -> Array:
        return x / self.c

    def scalar_code(self) -> tuple[str, tuple[str, ...], dict[str, object]] | None:
        return ("{x0} / {c}", ("{gy} / {c}",), {"c": self.c})

    def backward(self, gy: Variable) -> Variable:
        return DivScalar(self.c)(gy)

    def backward_array(self, gy: Array) -> Array:
        return gy / self.c

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def div_scalar(x: Operand, c: float) -> Variable:
    """``x / c`` for a Python number ``c``."""
    return DivScalar(c)(x)


@ops.declare(
    "rdiv_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_NONZERO,
    order=3,
    sample=_scalar_sampler([1, -2, 0.5], _NONZERO),
    description="c / x, c a number",
)
class RDivScalar(_ScalarOp):
    """``c / x``; the gradient ``-c / x**2 = -y / x`` reuses the output."""

    saves_inputs = saves_output = True

    def forward(self, x: Array) -> Array:
        return self.c / x

    forward_scalar = forward  # operators: NumPy scalars in, a NumPy scalar out

    def backward(self, gy: Variable) -> Variable:
        (x,) = self.inputs
        return -gy * self.output() / x

    def backward_array(self, gy: Array) -> Array:
        return -gy * self.output_array() / self.input_array()

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def rdiv_scalar(x: Operand, c: float) -> Variable:
    """``c / x`` for a Python number ``c``."""
    return RDivScalar(c)(x)


@ops.declare(
    "rpow_scalar",
    backends=BACKENDS,
    elementwise=True,
    domains=_ANY,
    order=3,
    sample=_scalar_sampler([2, 0.5, 10]),
    description="c ** x, c > 0 a number",
)
class RPowScalar(_ScalarOp):
    """``c ** x`` for a positive constant ``c``; the gradient ``log(c) * y`` reuses the output."""

    def __init__(self, c: float) -> None:
        super().__init__(c)
        if not c > 0:  # log(c) is the gradient's factor: real only for c > 0
            raise ValueError(
                f"rpow_scalar: the base must be > 0, got {c!r}; for another base use "
                "power(c, x), which follows NumPy"
            )

    saves_output = True

    def forward(self, x: Array) -> Array:
        return self.c**x

    def backward(self, gy: Variable) -> Variable:
        return MulScalar(math.log(self.c))(gy * self.output())

    def backward_array(self, gy: Array) -> Array:
        return gy * self.output_array() * math.log(self.c)

    jvp = backward  # elementwise: the Jacobian is diagonal, its own transpose
    jvp_array = backward_array


def rpow_scalar(x: Operand, c: float) -> Variable:
    """``c ** x`` for a positive Python number ``c``."""
    return RPowScalar(c)(x)
