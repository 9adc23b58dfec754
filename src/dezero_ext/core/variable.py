"""``Variable``: an array that remembers the function that made it.

Its operators call the built-in ops through the operator table (``core/operators.py``), and
``backward`` calls the backward pass (``core/engine.py``) through ``ENGINE``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Final, SupportsIndex, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy import ndarray

from dezero_ext.core import backend as _backend
from dezero_ext.core import guard as _guard
from dezero_ext.core.operators import OPERATORS

if TYPE_CHECKING:
    from dezero_ext.core.function import FunctionBase

__all__ = [
    "ENGINE",
    "Array",
    "Engine",
    "Index",
    "Link",
    "Operand",
    "Parameter",
    "Variable",
    "as_array",
    "as_variable",
    "link_of",
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
    if isinstance(data, Variable):
        return TypeError(
            f"Variable: data must be a numpy.ndarray, got a Variable {text}; to update data "
            "with a gradient use its array: x.data -= lr * x.grad.data"
        )
    if isinstance(data, np.matrix):
        return TypeError(
            f"Variable: cannot hold a numpy.matrix ({text}): its * is a matrix product, so "
            "ops would compute something else; convert it first: Variable(np.asarray(m))"
        )
    if isinstance(data, np.ma.MaskedArray):
        return TypeError(
            f"Variable: cannot hold a masked array ({text}): ops would ignore its mask; "
            "fill the masked values first: Variable(m.filled(value))"
        )
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
    numbers) is refused with an error that names it, and so are ``np.matrix`` and masked
    arrays, whose semantics ops would silently drop; other ndarray subclasses are viewed as
    plain ndarrays. An array of another library (array-api-strict, Dask, CuPy) stays in it:
    floating arrays pass through, integer ones become float64 there.
    """
    if isinstance(data, np.generic) and not isinstance(data, np.bool_):
        data = np.asarray(data)
    if not isinstance(data, np.ndarray):
        return _foreign_array(data)
    if data.__class__ is not np.ndarray:
        if isinstance(data, (np.matrix, np.ma.MaskedArray)):
            raise _bad_data(data)
        data = data.view(np.ndarray)
    kind = data.dtype.kind
    if kind in _FLOAT_KINDS:
        return data
    if kind in _INT_KINDS:
        return data.astype(np.float64)
    raise _bad_data(data)


def _foreign_array(data: object) -> Array:
    """``data``, an array of another library (array-api-strict, Dask, CuPy), as a Variable's
    data: floating arrays pass through unchanged, integer arrays become float64 in their own
    library (never through NumPy: that would compute a Dask graph or copy from a GPU)."""
    namespace = None if isinstance(data, Variable) else _backend.foreign_namespace(data)
    if namespace is None:
        raise _bad_data(data)
    dtype = data.dtype  # type: ignore[attr-defined]  # an Array API array (checked above)
    if namespace.isdtype(dtype, "real floating"):
        return data  # type: ignore[return-value]  # an Array API array: an Array at runtime
    if namespace.isdtype(dtype, "integral"):
        converted: Array = namespace.astype(data, namespace.float64)
        return converted
    raise TypeError(
        f"Variable: cannot hold an array of dtype {dtype} ({type(data).__name__}); gradients "
        "need floating-point data: convert it first with its library's astype"
    )


class Engine:
    """Where ``Variable.backward`` finds the backward pass: ``core/engine.py`` sets
    ``ENGINE.backward`` when it is imported (``dezero_ext.core`` imports it). The engine
    needs ``Variable`` and ``Function``, so it stands above this module, which cannot import
    it; this one slot is the way up, and no import goes back."""

    __slots__ = ("backward",)

    def __init__(self) -> None:
        self.backward: Callable[[Variable, bool, bool], None] = _unbound_backward


def _unbound_backward(root: Variable, retain_grad: bool, create_graph: bool) -> None:
    raise RuntimeError(
        "dezero_ext: the backward pass is not bound; import dezero_ext.core (which imports "
        "dezero_ext.core.engine) before calling backward()"
    )


ENGINE: Final = Engine()
"""The binding ``core/engine.py`` fills (see ``Engine``)."""
_OPS: Final = OPERATORS
_REFLECTED: Final = {
    np.add: "__radd__",
    np.subtract: "__rsub__",
    np.multiply: "__rmul__",
    np.true_divide: "__rtruediv__",
    np.power: "__rpow__",
    np.matmul: "__rmatmul__",
}
"""ndarray's operators with a Variable on the right: the Variable's reflected operator."""
_METHODS: Final = frozenset({"sum", "mean", "max", "min", "reshape", "transpose"})
"""NumPy functions a Variable has as methods (``np.sum(x)``'s error suggests ``x.sum()``)."""


class Variable:
    """A node of the graph: an ndarray ``data``, its gradient ``grad`` and its ``creator``.

    Running functions on Variables records the graph (define-by-run); ``backward()`` walks it
    back and leaves ``d(self)/d(x)`` in ``x.grad`` for every variable ``x`` it depends on.
    ``grad`` is itself a Variable, so a gradient can be differentiated again
    (``backward(create_graph=True)``).
    """

    __slots__ = (
        "__weakref__",
        "_data",
        "_pin",
        "creator",
        "generation",
        "grad",
        "name",
        "requires_grad",
    )
    if TYPE_CHECKING:  # NumPy's stubs then type ``array + variable`` as Variable.__radd__'s
        __array_ufunc__ = None

    _data: Array
    _pin: _guard.Pin | None  # set when a graph made the array read-only (see core/guard.py)
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
        self._data = data
        self._pin = None
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0
        self.requires_grad = bool(requires_grad)

    # ----------------------------------------------------------------- the data
    @property
    def data(self) -> Array:
        """The array. While a recorded graph may still read it, it is protected: an op
        output's array is read-only, and a leaf's array is read-only until a backward pass
        has run through the graph, after which ``data`` gives a writable copy (so
        ``p.data -= lr * p.grad.data`` after ``backward()`` works; see ``core/guard.py``)."""
        pin = self._pin
        if pin is None:
            if self.creator is None:
                return self._data
            pin = self._pin = _guard.OUTPUT  # an op output: frozen from its first hand-out
            if self._data.__class__ is ndarray:  # (the Array API has no read-only flag)
                self._data.setflags(write=False)
        elif pin.copy_on_write and self.creator is None:
            self._data = np.array(self._data, order="K")
            self._pin = None
        return self._data

    @data.setter
    def data(self, value: Array) -> None:
        if value.__class__ is not np.ndarray or value.dtype.kind not in _FLOAT_KINDS:
            value = as_array(value)
        creator = self.creator
        if creator is not None:
            raise AttributeError(
                f"cannot assign the data of a Variable computed by {creator._label()}: the "
                "graph that computed it reads it; make a new leaf with Variable(new_array), "
                "or call unchain() first to cut it from its graph"
            )
        if self._pin is _guard.OUTPUT:  # a backward seed a recorded graph reads
            raise AttributeError(
                "cannot assign the data of a backward pass's seed: the gradient graph "
                "recorded with create_graph=True reads it"
            )
        if value is not self._data:
            self._data = value
            self._pin = None

    # ----------------------------------------------------------------- array-like attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d Variable: it holds a single number (use .data.item())")
        return len(self._data)

    def __bool__(self) -> bool:
        """NumPy's rule: the truth of the one element; more (or none) is ambiguous."""
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a Variable with {self._data.size} elements is ambiguous; "
                "use x.data.any() or x.data.all() (or compare sizes with x.size)"
            )
        return bool(self._data)

    # NumPy would compute on the array and record no graph, so the result would silently
    # carry no gradient: conversion and NumPy's functions raise, naming the fix (ufuncs are
    # refused by __array_ufunc__ = None). PyTorch refuses too for a tensor that requires grad.
    # Hidden from mypy: NumPy's stubs would take any class with __array__ for an array, and
    # type ``ndarray - x`` as an ndarray.
    if not TYPE_CHECKING:

        def __array__(self, dtype=None, copy=None):
            raise TypeError(
                "np.asarray(x) / np.array(x) on a Variable: NumPy records no graph, so the "
                "result would carry no gradient; use x.data for the array (read-only while a "
                "recorded graph reads it), or the Variable's operators and dezero_ext's ops"
            )

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            # NumPy calls this for ndarray's operators too (they defer only to None here).
            out = kwargs.get("out")
            if method == "__call__":
                if out is None:  # array + variable: the Variable's operator records it
                    name = _REFLECTED.get(ufunc)
                    pair = len(inputs) == 2 and inputs[1] is self and not kwargs
                    if name and pair and not isinstance(inputs[0], Variable):
                        return getattr(self, name)(inputs[0])
                    if (ufunc is np.equal or ufunc is np.not_equal) and len(inputs) == 2:
                        # Python's == of objects (a Variable has no __eq__): ``x in arrays``
                        return (inputs[0] is inputs[1]) is (ufunc is np.equal)
                elif len(kwargs) == 1 and len(out) == 1 and out[0] is inputs[0] is not self:
                    # array -= variable (the book's x.data -= lr * x.grad): the array asks
                    # for numbers, and an in-place update of an array is never recorded
                    args = [x._data if isinstance(x, Variable) else x for x in inputs]
                    return ufunc(*args, out=out)
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise TypeError(
                f"np.{name} on a Variable: NumPy records no graph, so the result would carry "
                "no gradient; use the Variable's operators or a dezero_ext op "
                f"(dezero_ext.ops) to differentiate it, or np.{name}(x.data) for the values"
            )

        def __array_function__(self, func, types, args, kwargs):
            name = getattr(func, "__name__", "function")
            fix = f"x.{name}()" if name in _METHODS else "a dezero_ext op (dezero_ext.ops)"
            raise TypeError(
                f"np.{name} on a Variable: NumPy records no graph, so the result would carry "
                f"no gradient; use {fix} to differentiate it, or np.{name}(x.data) for the "
                "values"
            )

    def __repr__(self) -> str:
        if self._data.__class__ is not ndarray:  # another library's: its own repr, which
            body = repr(self._data)  # computes nothing (a Dask array shows its graph's shape)
        else:
            body = np.array2string(self._data, prefix="variable(", separator=", ")
        if self.name is not None:
            return f"variable({body}, name={self.name!r})"
        return f"variable({body})"

    # ----------------------------------------------------------------- devices (DeZero's)
    def to_cpu(self) -> None:
        """Keep the array on the CPU (DeZero's name): it is a NumPy array already."""

    def to_gpu(self) -> None:
        """Move the array to the GPU (DeZero's name): refused, since dezero_ext computes on
        NumPy arrays only for now (GPU arrays come with the array backends)."""
        raise RuntimeError(
            f"Variable.to_gpu(): no GPU to move {self.name or 'this variable'} (shape "
            f"{self._data.shape}) to: dezero_ext computes on NumPy arrays only for now. Guard "
            "the call with `if dezero_ext_nn.cuda.gpu_enable:` to run on the CPU."
        )

    # ----------------------------------------------------------------- graph maintenance
    def cleargrad(self) -> None:
        """Forget the gradient (call before a second ``backward`` to stop accumulation)."""
        self.grad = None

    def unchain(self) -> None:
        """Cut the link to the creator: this variable becomes a leaf, and no gradient flows
        past it into the graph that made it (from any function, recorded before or after).
        A function that keeps its inputs sees the variable as a leaf and gives it a
        gradient; one that keeps only links (``saves_inputs = False``) sends it nowhere."""
        creator = self.creator
        self.creator = None
        self.generation = 0  # a leaf: the engine tells leaves by generation 0
        if self._pin is _guard.OUTPUT:
            self._pin = _guard.UNCHAINED  # its data, frozen as an output, is copied on write
        if creator is not None:
            creator._disconnect(self)

    def unchain_backward(self) -> None:
        """Cut every link of the graph behind this variable, freeing what it holds."""
        creator = self.creator
        if creator is None:
            return
        stack = [(creator, creator.input_creators())]
        seen = {id(creator)}
        while stack:
            _, parents = stack.pop()
            for c in parents:
                if id(c) in seen:
                    continue
                seen.add(id(c))
                grandparents = c.input_creators()  # before unchaining cuts them
                for ref in c.outputs:
                    y = ref()
                    if y is not None:
                        y.unchain()
                c._disconnect(None)
                stack.append((c, grandparents))

    # ----------------------------------------------------------------- the backward pass
    def backward(self, retain_grad: bool = False, create_graph: bool = False) -> None:
        """Add ``d(self)/d(x)`` to ``x.grad`` for every leaf ``x`` this variable depends on.

        The gradient of ``self`` (the seed) is ``self.grad`` when set, else ones of its shape
        (so a non-scalar output is summed); outputs of the same function whose ``grad`` is
        set are seeded with it too. Each call adds exactly one gradient to each leaf, as
        PyTorch does: gradients flowing through the graph live only during the pass.

        ``retain_grad`` keeps the gradients of intermediate variables (each call adds one
        more) and the seed in ``self.grad``; otherwise ``self.grad`` is reset. With
        ``create_graph`` the backward computation is itself recorded, so ``x.grad.backward()``
        gives a second derivative; ``x.grad`` then references a graph that references ``x``,
        a reference cycle until ``x.cleargrad()`` (or the garbage collector) breaks it.
        Without it (the usual first-order pass) the pass works on arrays: ops that give a
        ``backward_array`` rule build no Variables or Functions at all.

        The pass is all or nothing: when a ``backward`` raises, no gradient changes. The
        gradients it sets are writable arrays shared with no other gradient, added under a
        lock (threads may run backward passes into the same leaves). The walk is iterative
        (no recursion limit) and visits functions newest generation first, through a heap.
        The pass is ``core/engine.py``'s ``backward``.
        """
        ENGINE.backward(self, retain_grad, create_graph)

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
        # the op checks every axis is an int: a float is refused, never truncated
        if len(axes) == 1 and isinstance(axes[0], (Sequence, ndarray)):
            return _OPS.transpose(self, tuple(axes[0]))
        return _OPS.transpose(self, axes)  # type: ignore[arg-type]  # checked by the op

    def reshape(self, *shape: int | Sequence[int]) -> Variable:
        """A new shape, as ``ndarray.reshape``: ``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
        # the op checks every entry is an int: reshape(2.9, 3.9) is refused, never truncated
        if len(shape) == 1:
            only = shape[0]
            return _OPS.reshape(self, only.tolist() if isinstance(only, ndarray) else only)
        return _OPS.reshape(self, shape)  # type: ignore[arg-type]  # checked by the op

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

    The engine uses it for the arrays it makes (gradients, rebuilt outputs): it skips
    ``Variable.__init__``'s checks. ``Function.__call__`` inlines the same assignments on its
    hot path; tests/core/test_variable.py checks that both set what ``__init__`` sets.
    """
    v: Variable = _new(Variable)
    v._data = data
    v._pin = None
    v.name = None
    v.grad = None
    v.creator = None
    v.generation = 0
    v.requires_grad = True
    return v


Link: TypeAlias = "Variable | FunctionBase | tuple[FunctionBase, int] | None"
"""Where a backward pass sends an input's gradient: the leaf Variable itself, the function
that made the input (its only output), ``(function, output index)``, or None (a constant)."""


def link_of(x: Variable) -> Link:
    """The ``Link`` of input ``x``: the key of its gradient in a backward pass."""
    c = x.creator
    if c is None:
        return x if x.requires_grad else None
    if c._multi:
        return (c, c._output_index(x))
    return c


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
        if like is not None and like._data.__class__ is not ndarray:  # in like's library
            namespace = _backend.namespace_of(like._data)
            device = _backend.device_of(like._data)  # (strict or a GPU: beside like)
            number = namespace.asarray(obj, dtype=like._data.dtype, device=device)
            return Variable(number, requires_grad=False)
        dtype = like._data.dtype if like is not None else np.float64
        return Variable(np.asarray(obj, dtype=dtype), requires_grad=False)
    if like is not None and isinstance(obj, (ndarray, np.integer)) and obj.dtype.kind in _INT_KINDS:
        # NumPy 2's promotion, not float64: float32 * int8 is float32, float32 * int32 float64
        dtype = np.result_type(obj.dtype, like._data.dtype)
        return Variable(np.asarray(obj, dtype=dtype), requires_grad=False)
    return Variable(obj, requires_grad=False)
