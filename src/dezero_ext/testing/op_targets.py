"""The two built-in ``Target``s, differentiated by dezero_ext's own backward pass: an
``OpDef`` (``OpTarget``) and a plain function of Variables (``FunctionTarget``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

from dezero_ext.core.config import no_grad
from dezero_ext.core.variable import Array, Variable
from dezero_ext.opdef import OpDef
from dezero_ext.testing.diagnose import DTYPE_CAUSE, INPLACE_CAUSE
from dezero_ext.testing.protocol import (
    Cotangents,
    Declaration,
    Pullback,
    Target,
    TargetFaultError,
    held_declaration,
)
from dezero_ext.testing.reproduce import Source, combine, object_source, opdef_source, value_source
from dezero_ext.testing.timeout import in_phase
from dezero_ext.testing.vjp import LevelFunction, backprop, lift

__all__ = [
    "FunctionTarget",
    "HeldTarget",
    "OpTarget",
    "VariableFunction",
    "VariableTarget",
    "as_outputs",
    "as_target",
    "variables",
]

VariableFunction: TypeAlias = Callable[..., "Variable | tuple[Variable, ...]"]
"""A function of Variables returning one Variable or a tuple of them."""


def variables(arrays: Sequence[Array]) -> list[Variable]:
    """Fresh Variables on copies of ``arrays``: an op that writes into its inputs cannot
    change the checker's arrays. Another library's arrays (``testing.backends``, which made
    them for this call) are taken as they are: a copy could compute a Dask graph."""
    return [Variable(np.array(a, copy=True) if is_numpy(a) else a) for a in arrays]


def is_numpy(array: object) -> bool:
    """Whether ``array`` is NumPy's (the checker's own), not another backend's."""
    return isinstance(array, np.ndarray | np.generic)


def _check_unchanged(given: Sequence[Array], held: Sequence[Array], what: str, when: str) -> None:
    """``held`` (the arrays the op received) still equal ``given``, or an ``inplace`` fault."""
    for i, (before, now) in enumerate(zip(given, held, strict=True)):
        # bytes, not values: fast on small arrays, and a NaN equals itself
        if before.shape != now.shape or before.tobytes() != now.astype(before.dtype).tobytes():
            raise TargetFaultError(
                "inplace",
                f"{when} modified {what} {i} in place",
                at_input=i if what == "input" else None,
                cause=INPLACE_CAUSE,
            )


def as_outputs(result: object, name: str) -> tuple[Variable, ...]:
    """``result`` as a tuple of Variables, or a ``TypeError`` naming what came back."""
    items = result if isinstance(result, tuple) else (result,)
    for item in items:
        if not isinstance(item, Variable):
            raise TypeError(f"{name} returned {type(item).__name__}, expected Variables")
    return tuple(items)


class VariableTarget:
    """A ``Target`` whose function takes and returns dezero_ext Variables: ``G_k`` is the
    backward pass recorded with ``create_graph=True`` (``vjp.lift``)."""

    spec: Declaration
    stack_rank: int | None = None
    """Not None for an elementwise op (``Example.stacked_function``): evaluated on stacked
    points in one call, their inputs aligned to at least this many dimensions (a constant's)."""

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        """The function on Variables; subclasses define it."""
        raise NotImplementedError

    def apply_with(
        self, operands: Sequence[Variable | Array], params: Mapping[str, object]
    ) -> tuple[Variable, ...]:
        """``apply`` with some inputs constants: an array is passed as a Variable that does
        not require grad (``OpTarget`` passes the array itself, as a user does)."""
        xs = [x if isinstance(x, Variable) else Variable(x, requires_grad=False) for x in operands]
        return self.apply(xs, params)

    def holding(self, constants: Sequence[Array | None]) -> Target:
        """This target with the inputs ``constants`` gives (not None) held as constants
        (``HoldsConstants``)."""
        return HeldTarget(self, constants)

    def _level(self, params: Mapping[str, object], cotangents: Cotangents) -> LevelFunction:
        def apply(*xs: Variable) -> tuple[Variable, ...]:
            with in_phase("forward"):
                return self.apply(xs, params)

        return lift(apply, cotangents)[len(cotangents)]

    def evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[Array, ...]:
        level, xs = self._level(params, cotangents), variables(inputs)
        if cotangents:
            ys = level(*xs)
        else:
            with no_grad():
                ys = level(*xs)
        if all(map(is_numpy, inputs)):  # in place: NumPy's check (a look would compute Dask's)
            _check_unchanged(inputs, [x.data for x in xs], "input", "forward")
        return tuple(y.data for y in ys)

    def linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents = ()
    ) -> tuple[tuple[Array, ...], Pullback]:
        xs = variables(inputs)
        ys = self._level(params, cotangents)(*xs)
        if not all(map(is_numpy, inputs)):  # another backend: testing.backends checks it
            return tuple(y.data for y in ys), lambda vs: _backprop(ys, vs, xs)
        _check_unchanged(inputs, [x.data for x in xs], "input", "forward")
        if not cotangents:
            with in_phase("backward"):
                _check_raw_dtypes(ys, xs)

        def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            if not cotangents:
                _check_fast_path(ys, vs)
            seeds = [np.array(v, copy=True) for v in vs]
            with in_phase("backward"):
                grads = tuple(g.data for g in backprop(ys, vs, xs))
            _check_unchanged(inputs, [x.data for x in xs], "input", "backward")
            _check_unchanged(seeds, vs, "the gradient it received for output", "backward")
            return grads

        return tuple(y.data for y in ys), pullback


def _backprop(
    ys: Sequence[Variable], vs: Sequence[Array], xs: Sequence[Variable]
) -> tuple[Array, ...]:
    """The pullback on another backend: no copies, no looks at the values."""
    with in_phase("backward"):
        return tuple(g.data for g in backprop(ys, vs, xs))


def _check_raw_dtypes(ys: Sequence[Variable], xs: Sequence[Variable]) -> None:
    """The engine casts a gradient to its input's dtype; check what ``backward`` itself
    returns, so an op that silently computes in float64 is still named."""
    creator = ys[0].creator if ys else None
    if (
        creator is None
        or any(y.creator is not creator for y in ys)
        or len(ys) != len(creator.outputs)
    ):
        return
    seeds = [Variable(np.ones(y.shape, dtype=y.dtype)) for y in ys]
    try:
        with no_grad():
            raw = creator.backward(*seeds)
    except Exception:  # noqa: BLE001 - the engine's own run reports backward's errors
        return
    gxs = raw if isinstance(raw, tuple) else (raw,)
    dtype = xs[0].dtype if xs else ys[0].dtype  # one dtype per example, constants included
    for i, g in enumerate(gxs):  # i: the op's input (a constant's too), as backward counts
        if isinstance(g, Variable) and g.dtype != dtype:
            raise TargetFaultError(
                "dtype",
                f"backward returns the gradient of input {i} as {g.dtype}, the input is "
                f"{dtype} (the engine casts it back, but the op computes in the wrong dtype)",
                at_input=i,
                cause=DTYPE_CAUSE.format(dtype=g.dtype),
            )


def _check_fast_path(ys: Sequence[Variable], vs: Sequence[Array]) -> None:
    """An op with a ``backward_array`` (the first-order fast path) must agree with its
    ``backward`` (the definition) on the cotangent ``vs``: the same shape, dtype and values
    (to rounding), input by input."""
    creator = ys[0].creator if ys else None
    rule = None if creator is None else creator.backward_array
    if rule is None or any(y.creator is not creator for y in ys):
        return
    assert creator is not None
    arrays = [np.asarray(v, dtype=y.dtype) for y, v in zip(ys, vs, strict=True)]
    with no_grad():
        raw = creator.backward(*[Variable(a.copy()) for a in arrays])
    fast = rule(*[a.copy() for a in arrays])
    slow = raw if isinstance(raw, tuple) else (raw,)
    fast_items = fast if isinstance(fast, tuple) else (fast,)
    needed = creator.needs_input_grad
    for i, (a, b) in enumerate(zip(slow, fast_items, strict=False)):
        if (a is None or b is None) and i < len(needed) and not needed[i]:
            continue  # a constant: either may skip its gradient (needs_input_grad)
        problem = _fast_path_difference(a, b)
        if problem:
            raise TargetFaultError(
                "fast_path",
                f"backward_array (the first-order fast path) disagrees with backward for "
                f"input {i}: {problem}",
                at_input=i,
                cause="fast path: backward_array must compute what backward computes, on "
                "arrays; a first-order backward() uses it, higher orders use backward",
            )
    if len(slow) != len(fast_items):
        raise TargetFaultError(
            "fast_path",
            f"backward_array returned {len(fast_items)} gradients, backward {len(slow)}",
            cause="fast path: return one array (or None) per input, as backward does",
        )


def _fast_path_difference(slow: object, fast: object) -> str:
    if slow is None or fast is None:
        return "" if slow is fast else f"one is None: backward {slow!r:.40}, fast {fast!r:.40}"
    a = slow.data if isinstance(slow, Variable) else np.asarray(slow)
    b = np.asarray(fast)
    if a.shape != b.shape:
        return f"shape {b.shape}, backward gives {a.shape}"
    if a.dtype != b.dtype:
        return f"dtype {b.dtype}, backward gives {a.dtype}"
    rtol = 1e-12 if a.dtype.itemsize >= 8 else 1e-5
    if not np.allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True):
        worst = int(np.argmax(np.abs(a - b))) if a.size else 0
        return f"value {b.ravel()[worst]!r} where backward gives {a.ravel()[worst]!r}"
    return ""


class OpTarget(VariableTarget):
    """An ``OpDef`` as a ``Target``: applied with the example's parameters."""

    def __init__(self, opdef: OpDef) -> None:
        self.opdef = opdef
        self.spec = opdef
        self.stack_rank: int | None = 0 if opdef.elementwise else None

    @property
    def source(self) -> str:
        """The op as a Python expression (computed on demand: it reads the registry)."""
        return self.reproduce_source.expression

    @property
    def reproduce_source(self) -> Source:
        """The op in the report's reproduce snippet: the registry lookup for a registered op,
        the ``OpDef(...)`` call otherwise."""
        return opdef_source(self.opdef)

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return self.opdef.outputs(*xs, **params)

    def apply_with(
        self, operands: Sequence[Variable | Array], params: Mapping[str, object]
    ) -> tuple[Variable, ...]:
        return self.opdef.outputs(*operands, **params)  # a constant as the plain array


class FunctionTarget(VariableTarget):
    """A plain function of Variables as a ``Target``: every input may be a kink of any
    convention (``"between"``), derivatives to order 4, in float64, float32 and float16."""

    def __init__(self, fn: VariableFunction, arity: int) -> None:
        self.fn = fn
        name = getattr(fn, "__name__", type(fn).__name__)
        self.spec = Declaration(
            name, arity=arity, order=4, dtypes=("float64", "float32", "float16")
        )
        self.reproduce_source: Source = object_source(fn)
        self.source: str = self.reproduce_source.expression

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        return as_outputs(self.fn(*xs, **params), self.spec.name)


class HeldTarget(VariableTarget):
    """``base`` with some inputs held constant (``VariableTarget.holding``): a target of the
    other inputs. The constants are cast to the dtype under check at each call (the numerical
    reference runs in float64)."""

    def __init__(self, base: VariableTarget, constants: Sequence[Array | None]) -> None:
        self.base = base
        self.constants = tuple(constants)
        if base.stack_rank is not None:  # the free inputs broadcast against the constants
            held = [np.ndim(c) for c in constants if c is not None]
            self.stack_rank = max([base.stack_rank, *held])
        self.spec = held_declaration(base.spec, constants)
        source = str(getattr(base, "source", base.spec.name))
        given: Source = getattr(base, "reproduce_source", Source(source))
        self.reproduce_source: Source = held_source(given, constants)
        self.source: str = self.reproduce_source.expression

    def apply(self, xs: Sequence[Variable], params: Mapping[str, object]) -> tuple[Variable, ...]:
        dtype = xs[0].dtype if xs else np.dtype(np.float64)
        given = iter(xs)
        operands: list[Variable | Array] = [
            next(given) if c is None else _constant(c, xs[0].data if xs else None, dtype)
            for c in self.constants
        ]
        return self.base.apply_with(operands, params)


def _constant(c: Array, like: Array | None, dtype: np.dtype[Any]) -> Array:
    """The constant ``c`` in ``dtype``, in the array library and on the device of ``like``
    (an input on another backend: ``testing.backends``)."""
    if like is None or is_numpy(like):
        return np.array(c, dtype=dtype)
    import array_api_compat  # another backend's arrays came through it

    xp = array_api_compat.array_namespace(like)
    moved: Array = xp.asarray(
        np.array(c, copy=True), dtype=dtype, device=array_api_compat.device(like)
    )
    return moved


def held_source(base: Source, constants: Sequence[Array | None]) -> Source:
    """The expression that builds ``base`` with ``constants`` held (``holding``), for a
    report's reproduce snippet: ``as_target(op, 2).holding([None, np.array(...)])``."""
    values = [value_source(c) if c is not None else Source("None") for c in constants]
    listed = ", ".join(v.expression for v in values)
    expression = f"as_target({base.expression}, {len(constants)}).holding([{listed}])"
    imports = Source("", ("from dezero_ext.testing.op_targets import as_target",))
    return combine([base, *values, imports], expression)


def as_target(target: Target | OpDef | VariableFunction, arity: int) -> Target:
    """``target`` as a ``Target``: an ``OpDef`` or a function of Variables (with ``arity``
    inputs) is wrapped, a ``Target`` is returned as it is."""
    if isinstance(target, OpDef):
        return OpTarget(target)
    if isinstance(target, Target):
        return target
    return FunctionTarget(target, arity)
