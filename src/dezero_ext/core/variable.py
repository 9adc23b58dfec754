"""``Variable``: an array that remembers the function that made it, and the backward pass."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Final, SupportsIndex, TypeAlias

import numpy as np
import numpy.typing as npt

from dezero_ext.core.config import ENABLE_BACKPROP

if TYPE_CHECKING:
    from dezero_ext.core.function import Function, FunctionBase

__all__ = [
    "Array",
    "Index",
    "OPERATORS",
    "Operand",
    "Operators",
    "Parameter",
    "Variable",
    "as_array",
    "as_variable",
    "wrap_array",
]

Array: TypeAlias = npt.NDArray[Any]
"""A NumPy array of any dtype: what ``Function.forward`` receives and returns."""

Operand: TypeAlias = "Variable | Array | float | int"
"""What ops accept: a Variable, an array (wrapped as a constant) or a Python number."""

_BasicIndex: TypeAlias = "SupportsIndex | slice | EllipsisType | Array | Sequence[int] | None"
Index: TypeAlias = "_BasicIndex | tuple[_BasicIndex, ...]"
"""What ``x[...]`` accepts: NumPy's basic and integer-array indexing."""

# dtype kinds a Variable holds: floating point; integers are converted to float64.
_FLOAT_KINDS: Final = frozenset("f")
_INT_KINDS: Final = frozenset("iu")


def _bad_data(data: object) -> TypeError:
    text = repr(data)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(data, np.ndarray):
        return TypeError(
            f"Variable: cannot hold an array of dtype {data.dtype} ({text}); gradients need "
            "floating-point data: convert it first, e.g. "
            "Variable(np.asarray(data, dtype=np.float64))"
        )
    return TypeError(
        f"Variable: data must be a numpy.ndarray, got {type(data).__name__} {text}; "
        "wrap it first, e.g. Variable(np.array(data))"
    )


def as_array(data: object) -> Array:
    """Return ``data`` as a floating-point ndarray fit for a Variable, or raise ``TypeError``.

    ndarrays of floating dtype pass through unchanged (float32 stays float32); integer arrays
    and NumPy integer scalars become float64 (as ``np.exp`` would make them); NumPy float
    scalars become 0-d arrays. Anything else (bool, complex, object, strings, lists, Python
    numbers) is refused with an error that names it.
    """
    if isinstance(data, np.generic) and not isinstance(data, np.bool_):
        data = np.asarray(data)
    if not isinstance(data, np.ndarray):
        raise _bad_data(data)
    kind = data.dtype.kind
    if kind in _FLOAT_KINDS:
        return data
    if kind in _INT_KINDS:
        return data.astype(np.float64)
    raise _bad_data(data)


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
_OPS: Final = OPERATORS


class Variable:
    """A node of the graph: an ndarray ``data``, its gradient ``grad`` and its ``creator``.

    Running functions on Variables records the graph (define-by-run); ``backward()`` walks it
    back and leaves ``d(self)/d(x)`` in ``x.grad`` for every variable ``x`` it depends on.
    ``grad`` is itself a Variable, so a gradient can be differentiated again
    (``backward(create_graph=True)``).
    """

    __slots__ = ("__weakref__", "creator", "data", "generation", "grad", "name", "requires_grad")
    # ndarray's operators return NotImplemented for us, so ``array + variable`` reaches
    # ``Variable.__radd__`` instead of becoming an object array.
    __array_ufunc__ = None

    data: Array
    name: str | None
    grad: Variable | None
    creator: FunctionBase | None
    generation: int
    requires_grad: bool
    """False for a constant: an array or number passed to an op (or a Variable made with
    ``requires_grad=False``). The backward pass gives a constant no gradient, ops may skip
    computing one (``Function.needs_input_grad``), and an op on constants only records no
    graph."""

    def __init__(self, data: Array, name: str | None = None, *, requires_grad: bool = True) -> None:
        if data.__class__ is not np.ndarray or data.dtype.kind not in _FLOAT_KINDS:
            data = as_array(data)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Variable: name must be a str or None, got {name!r}")
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0
        self.requires_grad = bool(requires_grad)

    # ----------------------------------------------------------------- array-like attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Variable: it holds a single number (use .data.item())")
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, prefix="variable(", separator=", ")
        if self.name is not None:
            return f"variable({body}, name={self.name!r})"
        return f"variable({body})"

    # ----------------------------------------------------------------- graph maintenance
    def cleargrad(self) -> None:
        """Forget the gradient (call before a second ``backward`` to stop accumulation)."""
        self.grad = None

    def unchain(self) -> None:
        """Cut the link to the creator: this variable becomes a leaf."""
        self.creator = None

    def unchain_backward(self) -> None:
        """Cut every link of the graph behind this variable, freeing what it holds."""
        if self.creator is None:
            return
        stack = [self.creator]
        seen = {id(self.creator)}
        while stack:
            f = stack.pop()
            for x in f.inputs:
                c = x.creator
                if c is not None:
                    x.unchain()
                    if id(c) not in seen:
                        seen.add(id(c))
                        stack.append(c)

    # ----------------------------------------------------------------- the backward pass
    def backward(self, retain_grad: bool = False, create_graph: bool = False) -> None:
        """Accumulate ``d(self)/d(x)`` into ``x.grad`` for every ``x`` this variable depends on.

        The gradient of ``self`` starts as ones of its shape (so a non-scalar output is summed),
        unless ``self.grad`` was set. Gradients of intermediate variables are freed unless
        ``retain_grad``. With ``create_graph`` the backward computation is itself recorded, so
        ``x.grad.backward()`` gives a second derivative. The walk is iterative (no recursion
        limit) and visits functions newest generation first, through a heap.
        """
        if self.grad is None:
            self.grad = Variable(np.ones_like(self.data))
        creator = self.creator
        if creator is None:
            return

        heap: list[tuple[int, int, FunctionBase]] = [(-creator.generation, 0, creator)]
        seen = {creator}
        pushed = 1
        push, pop = heapq.heappush, heapq.heappop
        token = ENABLE_BACKPROP.set(create_graph)
        try:
            while heap:
                f = pop(heap)[2]
                gxs = f.call_backward()
                for x, gx in zip(f.inputs, gxs, strict=True):
                    if gx is None or not x.requires_grad:  # a constant input
                        continue
                    if x.grad is None:
                        x.grad = gx
                    else:
                        x.grad = x.grad + gx
                    c = x.creator
                    if c is not None and c not in seen:
                        seen.add(c)
                        push(heap, (-c.generation, pushed, c))
                        pushed += 1
                if not retain_grad:
                    for ref in f.outputs:
                        y = ref()
                        if y is not None:
                            y.grad = None
        finally:
            ENABLE_BACKPROP.reset(token)

    # ----------------------------------------------------------------- operators and methods
    # A Python number operand becomes a parameter of a scalar op (no constant Variable, no
    # wasted gradient); anything else goes through the binary op.
    def __neg__(self) -> Variable:
        return _OPS.Neg()(self)

    def __pos__(self) -> Variable:
        return self

    def __add__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.AddScalar(other)(self)
        return _OPS.Add()(self, other)

    __radd__ = __add__

    def __sub__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.AddScalar(-other)(self)
        return _OPS.Sub()(self, other)

    def __rsub__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.RSubScalar(other)(self)
        return _OPS.Sub()(other, self)

    def __mul__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.MulScalar(other)(self)
        return _OPS.Mul()(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.DivScalar(other)(self)
        return _OPS.Div()(self, other)

    def __rtruediv__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.RDivScalar(other)(self)
        return _OPS.Div()(other, self)

    def __pow__(self, other: Operand) -> Variable:
        if type(other) is float or type(other) is int:
            return _OPS.Pow(other)(self)
        return _OPS.Power()(self, other)

    def __rpow__(self, other: Operand) -> Variable:
        if (type(other) is float or type(other) is int) and other > 0:
            return _OPS.RPowScalar(other)(self)
        return _OPS.Power()(other, self)

    def __matmul__(self, other: Operand) -> Variable:
        return _OPS.matmul(self, other)

    def __rmatmul__(self, other: Operand) -> Variable:
        return _OPS.matmul(other, self)

    def __getitem__(self, index: Index) -> Variable:
        return _OPS.get_item(self, index)

    @property
    def T(self) -> Variable:  # noqa: N802 - NumPy's name
        """The transpose (all axes reversed)."""
        return _OPS.transpose(self, None)

    def transpose(self, *axes: int | Sequence[int]) -> Variable:
        """Permute the axes, as ``ndarray.transpose``: ``x.transpose(1, 0)`` or
        ``x.transpose((1, 0))``; no axes reverses them."""
        if not axes:
            return _OPS.transpose(self, None)
        if len(axes) == 1 and not isinstance(axes[0], int):
            return _OPS.transpose(self, tuple(axes[0]))
        return _OPS.transpose(self, [int(a) for a in axes])  # type: ignore[arg-type]  # ints here

    def reshape(self, *shape: int | Sequence[int]) -> Variable:
        """A new shape, as ``ndarray.reshape``: ``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            return _OPS.reshape(self, tuple(shape[0]))
        return _OPS.reshape(self, tuple(int(s) for s in shape))  # type: ignore[arg-type]  # ints by the branch above

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        """Sum over ``axis`` (all axes by default)."""
        return _OPS.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        """Mean over ``axis`` (all axes by default)."""
        return _OPS.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        """Maximum over ``axis`` (all axes by default); tied maxima share the gradient."""
        return _OPS.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Variable:
        """Minimum over ``axis`` (all axes by default); tied minima share the gradient."""
        return _OPS.min(self, axis, keepdims)

    def __abs__(self) -> Variable:
        """``abs(x)``, elementwise; the gradient at 0 is 0."""
        return _OPS.abs(self)


class Parameter(Variable):
    """A trainable Variable: what layers hold and optimizers update (DeZero's ``Parameter``).

    It behaves as a Variable in every op; ``Layer.params()`` collects the Parameters a layer
    holds.
    """

    __slots__ = ()


_new: Final = object.__new__


def wrap_array(data: Array) -> Variable:
    """A Variable around ``data``, which must already be a floating-point ndarray.

    ``Function.__call__`` uses it for outputs: it skips ``Variable.__init__``'s checks, which
    the call has already made. Keep it in step with ``Variable.__init__``.
    """
    v: Variable = _new(Variable)
    v.data = data
    v.name = None
    v.grad = None
    v.creator = None
    v.generation = 0
    v.requires_grad = True
    return v


def as_variable(obj: Operand, like: Variable | None = None) -> Variable:
    """Return ``obj`` as a Variable; anything else becomes a constant (``requires_grad`` off).

    A Python number becomes a 0-d constant of ``like``'s dtype (Python scalars stay weak, as
    in NumPy 2: ``float32_variable * 2`` stays float32); an array becomes a constant Variable.
    """
    if isinstance(obj, Variable):
        return obj
    if isinstance(obj, bool):
        raise TypeError(f"a bool ({obj!r}) is not a number to differentiate; use 0.0 or 1.0")
    if isinstance(obj, (int, float)):
        dtype = like.data.dtype if like is not None else np.float64
        return Variable(np.asarray(obj, dtype=dtype), requires_grad=False)
    return Variable(obj, requires_grad=False)
