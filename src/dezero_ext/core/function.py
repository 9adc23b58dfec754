"""``Function``: an operation on Variables, recorded in the graph when it runs.

An op author subclasses ``Function`` (one output) or ``MultiOutputFunction`` and writes
``forward`` on arrays and ``backward`` on Variables, as in DeZero::

    class Square(Function):
        def forward(self, x: Array) -> Array:
            return x**2

        def backward(self, gy: Variable) -> Variable:
            (x,) = self.inputs
            return 2 * x * gy

``forward`` and ``backward`` take as many arguments as the op has inputs (``forward``) and
outputs (``backward``); ``backward`` returns one gradient per input, a Variable for a
single-input op, a tuple otherwise. Because ``backward`` is written with Variables, it is
differentiable itself, and higher derivatives come for free.

Arrays and numbers passed to an op are constants (``requires_grad`` off): ``backward`` may
return None for them and skip the work (``self.needs_input_grad``), as ``linear`` does for
its data batch.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self
from weakref import ref

import numpy as np
from numpy import asarray, ndarray
from numpy.typing import DTypeLike

from dezero_ext.core.backend import foreign_namespace, namespace_of
from dezero_ext.core.config import ANOMALY_WATCHERS, DETECT_ANOMALY, ENABLE_BACKPROP
from dezero_ext.core.guard import LeafGuard, guard_leaves
from dezero_ext.core.variable import (
    Array,
    Link,
    Operand,
    Parameter,
    Variable,
    as_array,
    as_variable,
    link_of,
    wrap_array,
)

__all__ = [
    "AsType",
    "Function",
    "FunctionBase",
    "Link",
    "MultiOutputFunction",
    "astype",
    "link_of",
]


_FLOAT_SCALARS: Final = frozenset({np.float64, np.float32, np.float16})
_FLOAT64: Final = np.dtype(np.float64)
_recording: Final = ENABLE_BACKPROP.get  # bound once: Function.__call__ asks every call
_new: Final = object.__new__


def _input_of(link: Link) -> Variable | None:
    """The input Variable behind a link: the leaf itself, or the live output of the function
    that made it (rebuilt from the array that function kept when the caller dropped it)."""
    if link is None or isinstance(link, Variable):
        return link
    function, index = link if isinstance(link, tuple) else (link, 0)
    y = function.outputs[index]()
    if y is None and index == 0:
        y = function._stand_in()
    if y is None:
        raise AttributeError(
            f"{function._label()}'s output, an input here, is gone: this op keeps no inputs "
            "(saves_inputs = False) and nothing else kept it alive"
        )
    return y


class FunctionBase:
    """What the backward pass needs of a recorded function; subclass ``Function`` or
    ``MultiOutputFunction`` instead of this.

    An instance records one call. When the graph is recorded (outside ``no_grad``) the call
    sets ``inputs`` (the input Variables), ``outputs`` (weak references to the outputs, so
    the forward graph holds no reference cycle) and ``generation`` (the newest input
    generation; the backward pass visits later generations first). Calling an instance that
    already recorded a call runs (and records) a shallow copy of it instead, so both calls
    keep their own inputs and forward state and both gradients are right.

    What a call records lives in slots, not in the instance dict: CPython 3.11 shares one key
    table among a class's instance dicts and stops adding keys to it after a few dozen
    instances, so attributes the first instances never set (calls under ``no_grad`` record
    nothing) would give every later instance a real dict, one more object per op for the
    garbage collector to track. An op's own attributes (``self.c``) go in its dict as usual.
    """

    __slots__ = ("__dict__", "__weakref__", "_guard", "_links", "_meta", "_out", "_y", "inputs")

    inputs: tuple[Variable, ...]
    """The input Variables, kept for ``backward`` when ``saves_inputs`` (DeZero's style)."""
    outputs: tuple[weakref.ref[Variable], ...]
    generation: int = -1
    """-1 until a call is recorded. In the instance dict, not a slot: the class default lets
    ``__call__`` tell a fresh instance with one read (``__init_subclass__`` keeps its key in
    the shared key table)."""
    _links: tuple[Link, ...] | Variable | FunctionBase
    """For an op that does not keep its inputs: where each input's gradient goes (a leaf
    Variable, the function that made the input, or None for a constant). One input's link
    is kept bare, not in a tuple: one object fewer per op for the garbage collector to
    track (a deep graph of 100,000 ops triggers full collections); ``_link_tuple`` gives
    the tuple."""

    saves_inputs: ClassVar[bool] = True
    """Whether ``backward`` reads ``self.inputs``. An op whose backward does not (``add``
    needs only shapes, ``exp`` its output) sets it False: the graph then keeps no reference to
    its input Variables, so an intermediate array that nothing else needs is freed as soon as
    it is used (what PyTorch's saved tensors do)."""
    saves_output: ClassVar[bool] = True
    """Whether ``backward`` reads the output (``self.output()``): when True the graph keeps
    the output's array; an op whose backward does not use it sets it False."""
    _multi: ClassVar[bool] = False
    """Whether the op has several outputs (``MultiOutputFunction``)."""

    backward_array: Callable[..., Array | tuple[Array | None, ...]] | None = None
    """Optional: ``backward_array(*gys) -> gx | (gx0, gx1, ...)``, the first-order gradient on
    NumPy arrays (a 0-d gradient arrives as a NumPy scalar). A backward pass that records
    nothing (``create_graph=False``, the usual case) uses it instead of ``backward`` and so
    builds no Variables or Functions; it must return what ``backward`` returns, as arrays of
    the inputs' shapes and dtypes (None for a constant input). ``dezero-ext check`` compares
    the two on every example."""
    forward_scalar: Callable[..., Any] | None = None
    """Optional: ``forward`` on NumPy scalars (0-d values), returning a NumPy scalar of the
    dtype ``forward`` gives. A traced replay (``dezero_ext.trace``) passes 0-d values between
    ops that have it as scalars, on which NumPy computes several times faster than on 0-d
    arrays (an elementwise op: ``x * self.c`` where ``forward`` writes
    ``np.multiply(x, self.c, out=...)``). It must compute what ``forward`` computes, bit for
    bit (a scalar's ``**`` calls ``pow`` where an array's squares or calls the ufunc: they
    round apart; use ``np.power`` there); ``dezero-ext check --traced`` compares the two."""
    _guard: LeafGuard | None
    """The leaf inputs' arrays this call read (see ``core/guard.py``), or None; set by every
    recorded call (a slot has no class default)."""
    _meta: type | tuple[tuple[int, ...], np.dtype[np.generic]] | None
    """What a gradient of the (one) output must be: its NumPy scalar type when it is 0-d
    (a first-order pass's 0-d gradients are NumPy scalars), else ``(shape, dtype)``; None
    for a multi-output function. Set by every recorded call."""
    _out: weakref.ref[Variable]
    """``Function``'s output, weakly."""
    _y: Any
    """The output's array (a 0-d one as a NumPy scalar), kept when ``saves_output``."""
    _made_nonfinite: bool = False
    """``detect_anomaly()``: the call made a nan or inf from finite inputs."""
    _severed: tuple[int, ...] | set[int] = ()
    """A multi-output function's outputs that were unchained."""

    backward: Callable[..., Variable | tuple[Variable | None, ...]]
    """``backward(*gys) -> gx | (gx0, gx1, ...)``: Variables in, one Variable per input out
    (None allowed for an input that is a constant, see ``needs_input_grad``)."""

    jvp: Callable[..., Variable | tuple[Variable | None, ...] | None] | None = None
    """Optional forward-mode rule: ``jvp(*txs) -> ty | (ty0, ty1, ...)``, the output tangent
    ``J @ tx`` from one tangent per input (None for an input whose tangent is zero, as a
    constant's is), on Variables (so it is differentiable: forward-over-reverse and
    forward-over-forward work). It reads ``self.inputs`` and ``self.output()`` as ``backward``
    does and returns one tangent per output, of its shape (None for a zero tangent). An op
    without one still works in forward mode through the fallback (``core/forward.py``)."""
    jvp_array: Callable[..., Array | tuple[Array | None, ...] | None] | None = None
    """Optional: ``jvp`` on NumPy arrays (``input_array``, ``output_array``), used when the
    forward-mode pass records nothing; it must compute what ``jvp`` computes (the checker
    compares them)."""

    op_name: ClassVar[str | None] = None
    """The registered op's name, used in error messages (the class name when unset)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The first instance sets ``generation``, so its key is in the class's shared key
        # table before calls under no_grad (which set nothing) can fill the table up.
        try:
            probe = _new(cls)
        except TypeError:  # an abstract class: no instances, nothing to share
            return
        probe.generation = -1

    @classmethod
    def _label(cls) -> str:
        return cls.op_name or cls.__name__

    def _prepare_inputs(self, inputs: tuple[Operand, ...]) -> tuple[Variable, ...]:
        """The inputs as Variables; Python numbers take the dtype of the first array input."""
        like: Variable | None = None
        for x in inputs:
            if isinstance(x, Variable):
                like = x
                break
            if isinstance(x, np.ndarray) and x.dtype.kind == "f":
                like = Variable(x, requires_grad=False)
                break
            if not isinstance(x, (int, float, np.generic, np.ndarray)) and hasattr(x, "dtype"):
                try:  # another library's array: numbers become arrays of its library
                    like = Variable(x, requires_grad=False)
                except TypeError:
                    continue  # (refused below, naming the input)
                break
        recording = ENABLE_BACKPROP.get()
        xs: list[Variable] = []
        for i, x in enumerate(inputs):
            try:
                v = as_variable(x, like)
            except TypeError as exc:
                raise TypeError(f"{self._label()}: input {i}: {exc}") from None
            if (
                recording
                and self.saves_inputs
                and isinstance(x, ndarray)
                and (v._data is x or v._data.base is x)
            ):
                # An array given to an op is a constant the graph reads in backward: it gets
                # its own copy, so the caller may reuse the array (a batch buffer) at once.
                v._data = np.array(x, order="K")
            xs.append(v)
        return tuple(xs)

    def _fresh(self) -> Self:
        """A copy of this instance that has recorded nothing: a second call of one instance
        is recorded by a copy, which keeps the first call's graph intact."""
        twin = copy.copy(self)
        for name in ("generation", "outputs", "_made_nonfinite", "_output_meta"):
            twin.__dict__.pop(name, None)
        for slot in _RECORDED:
            if is_set(twin, slot):
                slot.__delete__(twin)
        return twin

    if not TYPE_CHECKING:  # (hidden from mypy, which would type every unknown attribute)

        def __getattr__(self, name: str) -> object:
            # Reached only when normal lookup fails: ``inputs`` of an op keeping links only.
            if name == "inputs" and is_set(self, _LINKS):
                return tuple([_input_of(link) for link in self._link_tuple()])
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _stand_in(self) -> Variable | None:
        """For an output the caller dropped: a Variable of the array this function kept
        (``saves_output``), in the output's place in the graph; None when it kept none."""
        if not is_set(self, _KEPT):
            return None
        data = self._y
        # a 0-d output is kept as a NumPy scalar (another library's arrays stay as they are)
        y = wrap_array(asarray(data) if isinstance(data, np.generic) else data)
        y.creator = self
        y.generation = self.generation + 1
        return y

    def input_array(self, index: int = 0) -> Array:
        """Input ``index``'s data, for ``backward_array`` (the op keeps its inputs).

        A 0-d input comes as a NumPy scalar: NumPy computes on scalars several times faster
        than on 0-d arrays, with the same arithmetic, ``shape``, ``dtype`` and methods. Any
        other input comes as a view of its array (never a copy). Do not write into it."""
        data: Array = self.inputs[index]._data
        return data[()] if data.__class__ is ndarray else data

    def input_nodes(self) -> tuple[Variable | FunctionBase | None, ...]:
        """What each input is in the graph: its Variable when the op keeps its inputs (or the
        input is a leaf), else the function that made it; None for a constant the op does
        not keep. For walking a graph (``unchain_backward``, ``get_dot_graph``)."""
        if self.saves_inputs:
            return self.inputs
        return tuple([link[0] if isinstance(link, tuple) else link for link in self._link_tuple()])

    def _link_tuple(self) -> tuple[Link, ...]:
        """The links of an op that keeps no inputs, one per input."""
        links = self._links
        return links if isinstance(links, tuple) else (links,)

    def input_creators(self) -> list[FunctionBase]:
        """The functions that made this function's inputs (none for leaves)."""
        creators: list[FunctionBase] = []
        for node in self.input_nodes():
            if isinstance(node, FunctionBase):
                creators.append(node)
            elif node is not None and node.creator is not None:
                creators.append(node.creator)
        return creators

    def _disconnect(self, output: Variable | None) -> None:
        """``output`` (None: every output) was unchained: no gradient may flow into this
        function through it. The function keeps its inputs (its backward may still read
        them) but routes nothing further."""
        if self._multi and output is not None:
            severed = set(self._severed)
            severed.add(self._output_index(output))
            self._severed = severed
            return
        count = len(self.inputs) if self.saves_inputs else len(self._link_tuple())
        self._links = (None,) * count
        self.saves_inputs = False  # type: ignore[misc]  # this instance now routes by _links

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each input, whether the backward pass wants its gradient: ``backward`` may
        return None (and skip the work) for an input that is a constant."""
        if not self.saves_inputs:
            return tuple([link is not None for link in self._link_tuple()])
        return tuple([x.requires_grad for x in self.inputs])

    def _record(self, xs: Sequence[Variable], outputs: Sequence[Variable]) -> bool:
        """Record the call in the graph; False (nothing recorded) when every input is a
        constant, and the outputs are constants too."""
        generation = max([x.generation for x in xs if x.requires_grad], default=-1)
        if generation < 0:
            for y in outputs:
                y.requires_grad = False
            return False
        self.generation = generation
        for y in outputs:
            y.creator = self
            y.generation = generation + 1
        self.inputs = tuple(xs)
        self.outputs = tuple([weakref.ref(y) for y in outputs])
        self._meta = None  # the engine checks gradients against _output_meta instead
        self._guard = None
        for x in xs:
            if x.creator is None:
                self._guard = guard_leaves(self.inputs)
                break
        return True

    def _output_array(self, y: object, position: str = "as its output") -> Array:
        """``y`` as a floating-point ndarray output of forward: NumPy scalars (what ufuncs
        return for 0-d inputs) become 0-d arrays, integer results float64."""
        if isinstance(y, (np.ndarray, np.generic)) and y.dtype.kind in "fiu":
            return as_array(y)
        if foreign_namespace(y) is not None:  # another library's array: kept in it
            return as_array(y)
        if isinstance(y, (tuple, list)) and position == "as its output":
            raise TypeError(
                f"{self._label()}.forward returned a {type(y).__name__} of {len(y)} values, but "
                "a Function has one output: return one array, or subclass MultiOutputFunction"
            )
        raise TypeError(
            f"{self._label()}.forward returned {type(y).__name__} {y!r:.60} {position}; "
            "forward must return numpy arrays (wrap the result with np.asarray), or arrays "
            "of its inputs' library"
        )

    def _output_index(self, y: Variable) -> int:
        return 0

    def output_meta(self, index: int = 0) -> tuple[tuple[int, ...], np.dtype[np.generic]]:
        """The shape and dtype of output ``index``, even when nothing holds it any more (for
        pictures of the graph: ``get_dot_graph``)."""
        if self._multi:
            output_meta: tuple[tuple[int, ...], np.dtype[np.generic]] = self._output_meta[index]  # type: ignore[attr-defined]  # a MultiOutputFunction's
            return output_meta
        meta = self._meta  # what the engine checks gradients against (see _meta)
        if isinstance(meta, type):  # a 0-d output, as its NumPy scalar type
            return (), np.dtype(meta)
        assert meta is not None  # a Function's recorded call sets it
        return meta


# the slots' descriptors (mypy types ``FunctionBase.inputs`` as the attribute's value)
_INPUTS: Final[Any] = FunctionBase.__dict__["inputs"]
_LINKS: Final[Any] = FunctionBase.__dict__["_links"]
_KEPT: Final[Any] = FunctionBase.__dict__["_y"]
_RECORDED: Final = tuple(
    getattr(FunctionBase, name)
    for name in FunctionBase.__slots__
    if name not in ("__dict__", "__weakref__")
)
"""The descriptors of the slots a recorded call sets."""


def is_set(function: FunctionBase, slot: Any) -> bool:
    """Whether ``function``'s slot (a descriptor: ``FunctionBase._y``) holds a value."""
    try:
        slot.__get__(function)
    except AttributeError:
        return False
    return True


def set_missing(function: FunctionBase, values: dict[str, object]) -> list[str]:
    """Set the attributes in ``values`` that ``function`` has not recorded (forward mode
    gives an unrecorded call what its rules read); the names set, to delete afterwards."""
    fresh = function.generation < 0  # nothing recorded: no slot is set (one test)
    added: list[str] = []
    for name, value in values.items():
        slot = FunctionBase.__dict__.get(name)
        if fresh or not (is_set(function, slot) if slot else name in function.__dict__):
            setattr(function, name, value)
            added.append(name)
    return added


class Function(FunctionBase):
    """A function with one output: ``forward(*arrays) -> array``.

    Calling an instance applies it: ``Square()(x)`` returns a ``Variable``.
    """

    forward: Callable[..., Array]
    """``forward(*xs) -> y``: NumPy arrays in, one array out."""

    def __call__(self, *inputs: Operand) -> Variable:
        # The hot path of the framework: kept flat, with the rare cases in helper methods.
        if self.generation >= 0:  # this instance recorded a call already: record a copy
            return self._fresh()(*inputs)
        xs: tuple[Variable, ...] = inputs  # type: ignore[assignment]  # checked just below
        one = len(inputs) == 1
        if one:
            x = inputs[0]
            if x.__class__ is not Variable and x.__class__ is not Parameter:
                xs = self._prepare_inputs(inputs)
            v = xs[0]
            y = self.forward(v._data)
        else:
            for x in inputs:
                if x.__class__ is not Variable and x.__class__ is not Parameter:
                    xs = self._prepare_inputs(inputs)
                    break
            y = self.forward(*[x._data for x in xs])
        # ``meta``: what a gradient of the output must be (the engine checks it): a 0-d
        # output's NumPy scalar type (one identity test per op), else (shape, dtype)
        meta: Any = y.__class__
        if meta is not ndarray:
            # ufuncs give NumPy scalars for 0-d inputs
            if meta in _FLOAT_SCALARS:
                y = asarray(y)
                shape: tuple[int, ...] = ()
            else:
                y = self._output_array(y)
                shape = y.shape
                # (another library's 0-d array is no NumPy scalar: (shape, dtype) too)
                meta = (shape, y.dtype) if shape or y.__class__ is not ndarray else y.dtype.type
        else:
            dtype = y.dtype
            if dtype is not _FLOAT64 and dtype.kind != "f":
                y = self._output_array(y)
                dtype = y.dtype
            shape = y.shape
            meta = (shape, dtype) if shape else dtype.type
        output: Variable = _new(Variable)  # wrap_array, inlined
        output._data = y
        output._pin = output.name = output.grad = None
        output.requires_grad = True
        if not _recording():
            output.creator = None
            output.generation = 0
            return output
        if one:
            generation = v.generation
            requires_grad = v.requires_grad
            leaf = generation == 0
        else:
            generation = -1
            leaf = requires_grad = False
            for x in xs:
                g = x.generation
                if g == 0:
                    leaf = True
                if x.requires_grad:
                    requires_grad = True
                    if g > generation:
                        generation = g
        if not requires_grad:  # a function of constants only
            output.creator = None
            output.generation = 0
            output.requires_grad = False
            return output
        self.generation = generation
        self._meta = meta
        output.creator = self
        output.generation = generation + 1
        if self.saves_inputs:
            self.inputs = xs
            # pin the leaves' arrays while the graph may read them
            self._guard = guard_leaves(xs) if leaf else None
        else:
            if one:
                c = v.creator
                self._links = v if c is None else c if not c._multi else (link_of(v),)
            else:
                self._links = tuple([link_of(x) for x in xs])
            if leaf and ((one and y is v._data) or getattr(y, "base", None) is not None):
                # a view of a leaf's memory (reshape, .T, x[1:]): pinned as if read
                self._guard = guard_leaves(xs, y)
            else:
                self._guard = None
        if self.saves_output:  # kept for backward_array: a 0-d output as a NumPy scalar
            self._y = y if shape else y[()]
        self._out = ref(output)
        return output

    @property
    def outputs(self) -> tuple[weakref.ref[Variable], ...]:  # type: ignore[override]  # read-only here
        """A weak reference to the output, in a tuple (as ``MultiOutputFunction``'s)."""
        return (self._out,)

    def output(self) -> Variable:
        """The output Variable, for a ``backward`` that reuses it (``exp``'s gradient is its
        output). When the caller has dropped it, a Variable of the same array and place in
        the graph stands in (the op must keep ``saves_output`` on)."""
        y = self._out()
        if y is None:
            y = self._stand_in()
        if y is None:
            raise RuntimeError(
                f"{self._label()}: backward reads the output, which is gone; declare "
                "saves_output = True on the op's class (the default)"
            )
        return y

    def output_array(self) -> Array:
        """The output's array, for ``backward_array`` (the op must keep ``saves_output``).

        A 0-d output is kept as the NumPy scalar ``forward`` gave (ufuncs give scalars for
        0-d inputs): NumPy computes on scalars several times faster than on 0-d arrays, and
        a scalar has the same arithmetic, ``shape``, ``dtype`` and methods. Do not write
        into it (no gradient rule should write into saved data)."""
        data: Array = self._y
        return data


_PLAIN_CALL: Final = Function.__call__
_ANOMALY: list[bool] = [False]  # whether a detect_anomaly() block is open


def _watching_call(self: Function, *inputs: Operand) -> Variable:
    """``Function.__call__`` while a ``detect_anomaly()`` block is open: a call that makes a
    nan or inf from finite inputs is marked, for the backward pass to name it."""
    y = _PLAIN_CALL(self, *inputs)
    if y.creator is self and DETECT_ANOMALY.get() and not np.isfinite(y._data).all():
        arrays = [x._data if isinstance(x, Variable) else x for x in inputs]
        if all(np.isfinite(a).all() for a in arrays):
            self._made_nonfinite = True  # read by the engine's detect_anomaly checks
    return y


def _watch_forwards(on: bool) -> None:
    _ANOMALY[0] = on
    install_calls()


ANOMALY_WATCHERS.append(_watch_forwards)

DUAL: Final[list[Callable[..., Any]]] = []
"""While a forward-mode pass is open (in any thread): the call that carries tangents
(``core/forward.py`` fills it and calls ``install_calls``). ``Function.__call__`` is swapped
for it then, so the plain call checks nothing: forward mode costs it no time."""


def plain_call(function: FunctionBase) -> Callable[..., Any]:
    """``function``'s call without forward mode (watching for anomalies while a
    ``detect_anomaly()`` block is open)."""
    if function._multi:
        return _PLAIN_MULTI_CALL
    return _watching_call if _ANOMALY[0] else _PLAIN_CALL


def install_calls() -> None:
    """Swap ``Function.__call__`` and ``MultiOutputFunction.__call__`` for the modes now open:
    forward mode (``DUAL``), ``detect_anomaly``, or neither."""
    if DUAL:
        Function.__call__ = MultiOutputFunction.__call__ = DUAL[0]  # type: ignore[method-assign]  # swapped only while a forward-mode pass is open
    else:
        Function.__call__ = _watching_call if _ANOMALY[0] else _PLAIN_CALL  # type: ignore[method-assign]  # swapped only while a detect_anomaly() block is open
        MultiOutputFunction.__call__ = _PLAIN_MULTI_CALL  # type: ignore[method-assign]  # restored when the forward-mode pass closes


class MultiOutputFunction(FunctionBase):
    """A function with several outputs: ``forward(*arrays) -> (array, ...)``.

    Calling an instance returns a tuple of Variables. ``backward`` receives one gradient per
    output; an output that was never used (or was garbage-collected) gets zeros.
    """

    forward: Callable[..., tuple[Array, ...]]
    """``forward(*xs) -> (y0, y1, ...)``: NumPy arrays in, a tuple of arrays out."""

    _multi = True
    saves_inputs = True  # always: the graph's links to the inputs

    _output_meta: tuple[tuple[tuple[int, ...], np.dtype[np.generic]], ...]

    def __call__(self, *inputs: Operand) -> tuple[Variable, ...]:
        if self.generation >= 0:  # this instance recorded a call already
            return self._fresh()(*inputs)
        xs = self._prepare_inputs(inputs)
        ys = self.forward(*[x._data for x in xs])
        if not isinstance(ys, (tuple, list)):
            raise TypeError(
                f"{self._label()}.forward returned {type(ys).__name__}; a MultiOutputFunction's "
                "forward returns a tuple of arrays (subclass Function for a single output)"
            )
        arrays = [self._output_array(y, f"as output {i}") for i, y in enumerate(ys)]
        outputs = tuple([Variable(y) for y in arrays])
        if ENABLE_BACKPROP.get() and self._record(xs, outputs):
            self._output_meta = tuple([(y.shape, y.dtype) for y in arrays])
        return outputs

    def _output_index(self, y: Variable) -> int:
        for i, weak in enumerate(self.outputs):
            if weak() is y:
                return i
        raise RuntimeError(f"{self._label()}: {y!r} is not one of its outputs")


_PLAIN_MULTI_CALL: Final = MultiOutputFunction.__call__


class AsType(Function):
    """Cast to another floating dtype; the gradient is cast back to the input's dtype.

    The engine uses it to give every gradient its input's dtype when an op mixes dtypes.
    """

    saves_inputs = saves_output = False

    def __init__(self, dtype: DTypeLike) -> None:
        self.dtype = _numpy_dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"astype: cast to a floating dtype, not {self.dtype}")

    def forward(self, x: Array) -> Array:
        self.in_dtype = x.dtype
        if x.__class__ is not ndarray:  # another library's array: its namespace's astype
            namespace = namespace_of(x, op="astype")
            cast: Array = namespace.astype(x, getattr(namespace, self.dtype.name))
            return cast
        return x.astype(self.dtype, copy=False)

    def backward(self, gy: Variable) -> Variable:
        return astype(gy, self.in_dtype)

    def backward_array(self, gy: Array) -> Array:
        if not isinstance(gy, ndarray | np.generic):
            cast: Array = namespace_of(gy, op="astype").astype(gy, self.in_dtype)
            return cast
        return gy.astype(self.in_dtype, copy=False)

    def jvp(self, tx: Variable) -> Variable:
        return astype(tx, self.dtype)

    def jvp_array(self, tx: Array) -> Array:
        return tx.astype(self.dtype, copy=False)


def _numpy_dtype(dtype: object) -> np.dtype[Any]:
    """NumPy's dtype of ``dtype``, which may be another library's (``array_api_strict.float32``
    is no NumPy dtype: its name is the same)."""
    try:
        numpy_dtype: np.dtype[Any] = np.dtype(dtype)  # type: ignore[call-overload]  # checked by NumPy
        return numpy_dtype
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def astype(x: Operand, dtype: DTypeLike) -> Variable:
    """``x`` cast to the floating ``dtype`` (returned as is when it already has it); another
    library's dtype names the same NumPy dtype."""
    if isinstance(x, Variable) and x._data.dtype == dtype:
        return x
    return AsType(dtype)(x)
