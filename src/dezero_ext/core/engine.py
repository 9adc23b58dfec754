"""The backward pass: from a Variable back through the functions that made it, to its leaves.

``Variable.backward`` calls ``backward`` here (through ``variable.ENGINE``: this module sits
above ``variable.py`` and ``function.py``, which cannot import it). Everything a pass does is
in this one module: the walk, the checks on what an op's ``backward`` returns, the casts to
an input's dtype, ``detect_anomaly``'s checks, and the commit of the gradients.

Gradients flowing through a pass are kept in one dict, keyed by where they go (a ``Link``):
a leaf Variable, or the function that made an intermediate value (with the output's index
for a multi-output function). No intermediate Variable needs to be alive. A first-order pass
keeps arrays there (ops' ``backward_array``), a ``create_graph`` pass Variables.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeGuard, TypeVar

import numpy as np
from numpy import ndarray

from dezero_ext.core import guard as _guard
from dezero_ext.core.backend import cast, foreign_namespace, namespace_of
from dezero_ext.core.config import DETECT_ANOMALY, ENABLE_BACKPROP
from dezero_ext.core.function import FunctionBase, MultiOutputFunction, astype, is_set
from dezero_ext.core.variable import ENGINE, Array, Parameter, Variable, link_of, wrap_array

__all__ = ["backward", "gradients"]

T = TypeVar("T")
_KEPT: Final[Any] = FunctionBase.__dict__["_y"]  # the slot's descriptor


def backward(root: Variable, retain_grad: bool, create_graph: bool) -> None:
    """``root.backward(retain_grad, create_graph)`` (see ``Variable.backward``)."""
    seed = root.grad
    creator = root.creator
    if seed is None:
        data = root._data
        if data.__class__ is not ndarray:  # another library's array: ones in it, not NumPy's
            seed = wrap_array(namespace_of(data, op="backward").ones_like(data))
        else:
            seed = wrap_array(np.ones_like(data))
        if creator is not None and not retain_grad:  # the engine's own seed, never
            if data.__class__ is ndarray:  # handed out: frozen for good, so the
                seed._data.setflags(write=False)  # gradient graph need not pin it
            seed._pin = _guard.OUTPUT
    else:
        seed = _checked_seed(root, seed, create_graph)
    if creator is None:  # a leaf, or an output made under no_grad: d(root)/d(root)
        root.grad = seed
        return
    token = ENABLE_BACKPROP.set(create_graph)
    try:
        _pass(root, creator, seed, retain_grad, create_graph)
    finally:
        ENABLE_BACKPROP.reset(token)


def gradients(
    root: Variable, targets: Sequence[Variable], seed: Variable, create_graph: bool
) -> list[Variable | None]:
    """The gradients of ``root`` (seeded with ``seed``) with respect to ``targets`` (leaves or
    intermediates), handed back instead of added to any ``grad``: no Variable's ``grad``
    changes (``torch.autograd.grad``; ``dezero_ext.func`` builds on it). None for a target
    ``root`` does not depend on."""
    seed = _checked_seed(root, seed, create_graph)
    creator = root.creator
    if creator is None:
        return [seed if t is root else None for t in targets]
    grads: dict[object, Any] = {link_of(root): seed if create_graph else seed._data}
    retained: list[tuple[Variable, Any]] = []
    leaves: dict[Variable, Any] = {}
    guarded: list[FunctionBase] = []
    seen = {creator}
    token = ENABLE_BACKPROP.set(create_graph)
    try:
        try:
            _walk(creator, grads, leaves, guarded, seen, retained, create_graph)
        except BaseException as exc:
            _guard.check_all(seen, exc)
            raise
        guards = _guard.check_all(guarded)
    finally:
        ENABLE_BACKPROP.reset(token)
    if guards:
        _guard.release(guards)
    found: dict[int, Any] = {id(y): g for y, g in retained}
    found.update((id(x), g) for x, g in leaves.items())
    found[id(root)] = seed if create_graph else seed._data
    result: list[Variable | None] = []
    for t in targets:
        g = found.get(id(t))
        result.append(None if g is None else _gradient_for(t, g, create_graph))
    return result


# ---------------------------------------------------------------------- the pass
def _pass(
    root: Variable, creator: FunctionBase, seed: Variable, retain_grad: bool, create_graph: bool
) -> None:
    grads, seeded = _seed(root, creator, seed)
    if not create_graph:
        grads = {k: g._data for k, g in grads.items()}
    retained: list[tuple[Variable, Any]] | None = [] if retain_grad else None
    leaves: dict[Variable, Any] = {}
    guarded: list[FunctionBase] = []  # functions that read leaf data: checked at the end
    seen = {creator}
    try:
        _walk(creator, grads, leaves, guarded, seen, retained, create_graph)
    except BaseException as exc:
        _guard.check_all(seen, exc)  # a changed leaf explains the error better
        raise
    # Before anything is kept: did a leaf's data change since the graph was recorded?
    guards = _guard.check_all(guarded)
    _commit(seed, seeded, retained, leaves, create_graph)
    if guards:
        _guard.release(guards)


def _seed(
    root: Variable, creator: FunctionBase, seed: Variable
) -> tuple[dict[object, Any], list[Variable]]:
    """The pass's gradients at the start: the root's, and those of the root creator's other
    outputs whose ``grad`` is set."""
    grads: dict[object, Any] = {link_of(root): seed}
    seeded = [root]
    for ref in creator.outputs:
        y = ref()
        if y is not None and y is not root and y.grad is not None:
            grads[link_of(y)] = _checked_seed(y, y.grad, ENABLE_BACKPROP.get())
            seeded.append(y)
    return grads, seeded


def _walk(
    creator: FunctionBase,
    grads: dict[Any, Any],
    leaves: dict[Variable, Any],
    guarded: list[FunctionBase],
    seen: set[FunctionBase],
    retained: list[tuple[Variable, Any]] | None,
    create_graph: bool,
) -> None:
    """The loop of a pass: each function, newest generation first, turns its outputs'
    gradients (taken out of ``grads``) into its inputs' (added to ``grads``, or to ``leaves``
    for a leaf). Kept flat: it runs once per recorded function."""
    # A chain needs no heap: when the heap is empty, no function waits, so the one function
    # a step discovers has no other gradient to wait for and runs next (``follow``).
    heap: list[tuple[int, int, FunctionBase]] = []
    pushed = 0
    push, pop, take, get = heapq.heappush, heapq.heappop, grads.pop, grads.get
    checked, array_step, fit = _gradients, _array_step, _fit
    zeros: Callable[[Array], Any] = wrap_array if create_graph else _identity
    anomaly = DETECT_ANOMALY.get()
    nonfinite: dict[FunctionBase, Variable] = {}  # detect_anomaly: outputs seen downstream
    f: FunctionBase | None = creator
    while f is not None:
        if f._multi:
            gy: Any = _output_gradients(f, grads, zeros, retained)  # type: ignore[arg-type]  # f._multi: a MultiOutputFunction
            gxs: Any = _variable_step(f, gy) if create_graph else array_step(f, gy)
        else:
            gy = take(f)
            if retained is not None:
                y = f._out()  # a Function: one output
                if y is not None:
                    retained.append((y, gy))
            if create_graph:
                gxs = checked(f, f.backward(gy))
            else:
                rule = f.backward_array
                # the fast path: arrays in, arrays out (one array, or a tuple of them)
                gxs = array_step(f, gy) if rule is None else rule(gy)
        if anomaly:
            _check_finite(f, gy, gxs if gxs.__class__ is tuple else (gxs,), nonfinite)
        if f._guard is not None:  # it read a leaf's memory, or made a view of it
            guarded.append(f)
        # the inputs or their links; one input's kept bare, not in a tuple
        links: Any = f._links
        # pairs (input link, its gradient); zip(strict=True) would cost more than the step
        if gxs.__class__ is not tuple:
            if links.__class__ is not tuple:
                pairs: Any = ((links, gxs),)
            elif len(links) == 1:
                pairs = ((links[0], gxs),)
            else:
                raise _count_error(f, (gxs,), links)
        elif links.__class__ is not tuple:
            if len(gxs) != 1:
                raise _count_error(f, gxs, (links,))
            pairs = ((links, gxs[0]),)
        elif len(gxs) == len(links):
            pairs = zip(links, gxs, strict=False)  # lengths checked just above
        else:
            raise _count_error(f, gxs, links)
        follow: FunctionBase | None = None
        for x, g in pairs:
            if g is None or x is None:
                continue
            cls = x.__class__
            if cls is Variable or cls is Parameter:
                c = x.creator
                if c is None:  # a leaf
                    if x.requires_grad:
                        d = x._data
                        if (
                            g.__class__ is not ndarray
                            or g.shape != d.shape
                            or g.dtype is not d.dtype
                        ):
                            g = fit(f, g, (d.shape, d.dtype), links, x, create_graph)
                        previous = leaves.get(x)
                        leaves[x] = g if previous is None else previous + g
                    continue
                if not x.requires_grad:
                    continue
                key: Any = (c, c._output_index(x)) if c._multi else c
            elif cls is tuple:  # (function, index): an output of a multi-output function
                key, c = x, x[0]
            else:  # the function that made the input
                key = c = x
            # every gradient is checked against the output it reaches: on the fast path one
            # identity test (a 0-d output's scalar type); shapes and dtypes in ``_fit``
            if g.__class__ is not c._meta:  # (a multi-output function's is None)
                meta = c._output_meta[key[1]] if c._multi else c._meta
                g = fit(f, g, meta, links, x, create_graph)
            previous = get(key)
            if previous is None:
                grads[key] = g
                if c not in seen:
                    seen.add(c)
                    if not heap and follow is None:
                        follow = c
                        continue
                    if follow is not None:  # a second one: both wait in the heap
                        push(heap, (-follow.generation, pushed, follow))
                        pushed += 1
                        follow = None
                    push(heap, (-c.generation, pushed, c))
                    pushed += 1
            else:
                grads[key] = previous + g
        f = follow if follow is not None else pop(heap)[2] if heap else None


def _output_gradients(
    f: MultiOutputFunction,
    grads: dict[object, T],
    zeros: Callable[[Array], T],
    retained: list[tuple[Variable, T]] | None,
) -> list[T]:
    """A multi-output function's outputs' gradients, taken out of ``grads`` (zeros for an
    output that got none) and listed in ``retained`` when kept."""
    gys: list[T] = []
    severed = f._severed
    for i, (weak, (shape, dtype)) in enumerate(zip(f.outputs, f._output_meta, strict=True)):
        gy = grads.pop((f, i), None)
        if i in severed:  # an output that was unchained: nothing flows through it
            gy = None
        if gy is None:  # an output nothing used
            gy = zeros(_zeros(f, shape, dtype))
        elif retained is not None:
            y = weak()
            if y is not None:
                retained.append((y, gy))
        gys.append(gy)
    return gys


def _zeros(f: MultiOutputFunction, shape: tuple[int, ...], dtype: Any) -> Any:
    """Zeros for an output of ``f`` nothing used, in its inputs' library."""
    data = f.inputs[0]._data if f.inputs else None
    if data is None or data.__class__ is ndarray:
        return np.zeros(shape, dtype=dtype)
    return namespace_of(data, op=f._label()).zeros(shape, dtype=dtype)


def _array_step(f: FunctionBase, gys: Any) -> tuple[Any, ...]:
    """``f``'s input gradients as arrays, in a first-order pass."""
    rule = f.backward_array
    if rule is not None:
        gxs = rule(*gys) if f._multi else rule(gys)
        # one array (or a NumPy scalar: ufuncs give them for 0-d arrays), or a tuple
        return gxs if gxs.__class__ is tuple else (gxs,)
    # no array rule: run backward on Variables (recording nothing in a first-order pass)
    wrapped = [_wrap(g) for g in gys] if f._multi else [_wrap(gys)]
    gradients = _gradients(f, f.backward(*wrapped))
    return tuple([None if g is None else g._data for g in gradients])


def _variable_step(f: FunctionBase, gys: Any) -> tuple[Any, ...]:
    """``f``'s input gradients as Variables, in a pass that records the graph."""
    return _gradients(f, f.backward(*gys) if f._multi else f.backward(gys))


def _fit(
    f: FunctionBase,
    g: Any,
    meta: type | tuple[tuple[int, ...], np.dtype[Any]] | None,
    links: object,
    link: object,
    create_graph: bool,
) -> Any:
    """``g``, a gradient ``f`` returned for the input at ``link``, checked against ``meta``
    (what that input is: a 0-d scalar type, or ``(shape, dtype)``); a float or integer
    gradient of another dtype is cast to the input's. Raise naming ``f`` otherwise."""
    if meta is None:  # a function recorded by other means: nothing known to check against
        return g
    data = g._data if create_graph else g
    if data.__class__ is ndarray or isinstance(data, np.generic):  # the usual case: it fits
        if meta.__class__ is tuple:
            if data.shape == meta[0] and data.dtype == meta[1]:
                return g
        elif data.shape == () and data.dtype.type is meta:
            return g
    shape, dtype = ((), np.dtype(meta)) if isinstance(meta, type) else meta
    rule = "backward" if create_graph or f.backward_array is None else "backward_array"
    index = next(i for i, x in enumerate(links) if x is link) if links.__class__ is tuple else 0
    if data.__class__ is int or data.__class__ is float:
        data = g = np.asarray(data)  # a Python number for a 0-d input: as NumPy would
    if not isinstance(data, (np.ndarray, np.generic)) and foreign_namespace(data) is not None:
        return _fit_foreign(f, g, data, shape, dtype, rule, index, create_graph)
    if not isinstance(data, (np.ndarray, np.generic)):
        wanted = "Variables" if create_graph else "NumPy arrays (NumPy scalars for 0-d inputs)"
        raise TypeError(
            f"{f._label()}.{rule} returned {type(g).__name__} for input {index}; it returns "
            f"{wanted}, one per input"
        )
    if data.dtype.kind not in "fiu":
        raise TypeError(
            f"{f._label()}.{rule} returned a gradient of dtype {data.dtype} for input {index} "
            f"(dtype {dtype}); a gradient is real: return one of the input's dtype"
        )
    if data.shape != shape:
        raise _shape_error(f, rule, index, data.shape, shape)
    if data.dtype == dtype:
        return g
    if create_graph:  # a cast in the graph: higher derivatives flow through it
        return astype(g, dtype)
    return data.astype(dtype)


def _shape_error(
    f: FunctionBase, rule: str, index: int, got: tuple[int, ...], shape: tuple[int, ...]
) -> ValueError:
    return ValueError(
        f"{f._label()}.{rule} returned a gradient of shape {got} for input {index} of shape "
        f"{shape}; a gradient has its input's shape (for a broadcast input, sum the gradient "
        "back with sum_to)"
    )


def _fit_foreign(
    f: FunctionBase,
    g: Any,
    data: Any,
    shape: tuple[int, ...],
    dtype: Any,
    rule: str,
    index: int,
    create_graph: bool,
) -> Any:
    """``_fit`` for a gradient that is another library's array (array-api-strict, Dask,
    CuPy): its shape is checked, a dtype other than the input's cast in its own library."""
    if data.shape != shape:
        raise _shape_error(f, rule, index, data.shape, shape)
    if data.dtype == dtype:
        return g
    if create_graph:
        return astype(g, dtype)
    return cast(data, dtype)


def _checked_seed(y: Variable, seed: object, create_graph: bool) -> Variable:
    """``y.grad`` set before ``backward()``: a Variable of ``y``'s shape (cast to its dtype)."""
    if not isinstance(seed, Variable):
        raise TypeError(
            f"backward: the seed (the grad set on the variable before backward()) is "
            f"{type(seed).__name__}, not a Variable; set y.grad = Variable(array) of the "
            "variable's shape, or leave it None for ones"
        )
    data, expected = seed._data, y._data
    if data.__class__ is not ndarray or expected.__class__ is not ndarray:
        namespace_of(expected, data, op="backward (the variable, its seed)")  # one library
    if data.shape != expected.shape:
        raise ValueError(
            f"backward: the seed (the grad set on the variable before backward()) has shape "
            f"{data.shape}, but the variable has shape {expected.shape}; set it to a "
            f"Variable of shape {expected.shape}, or leave it None for ones"
        )
    if data.dtype == expected.dtype:
        return seed
    if create_graph:
        return astype(seed, expected.dtype)
    return wrap_array(cast(data, expected.dtype))  # type: ignore[arg-type]  # an array


def _count_error(f: FunctionBase, gxs: tuple[Any, ...], links: tuple[Any, ...]) -> ValueError:
    rule = "backward" if ENABLE_BACKPROP.get() or f.backward_array is None else "backward_array"
    return ValueError(
        f"{f._label()}.{rule} returned {len(gxs)} gradients for {len(links)} inputs; return "
        "one per input, in input order (None for an input that needs none)"
    )


# ---------------------------------------------------------------------- what backward returned
def _gradients(f: FunctionBase, result: object) -> tuple[Variable | None, ...]:
    """Check what ``f.backward`` returned: one Variable per input, each of its input's shape.

    A gradient whose dtype differs from its input's (``float32 * float64`` computes in
    float64) is cast to the input's dtype, as PyTorch does.
    """
    if not f.saves_inputs:
        return _unchecked_gradients(f, result)
    inputs = f.inputs
    if isinstance(result, Variable):
        if len(inputs) == 1:
            g, x = result._data, inputs[0]._data
            if g.shape == x.shape and g.dtype == x.dtype:
                return (result,)
        items: tuple[object, ...] = (result,)
    elif isinstance(result, tuple):
        items = result
    elif isinstance(result, list):
        items = tuple(result)
    else:
        raise _gradient_type_error(f, result, 0)
    if _all_gradients(items, inputs, f):
        return items
    return _cast_gradients(items, inputs)


def _unchecked_gradients(f: FunctionBase, result: object) -> tuple[Variable | None, ...]:
    """The gradients of an op that keeps no inputs: counted and typed, not shape-checked
    (the leaves' gradients are, when the pass ends)."""
    items = (result,) if isinstance(result, Variable) else result
    n = len(f._link_tuple())
    if not isinstance(items, (tuple, list)) or len(items) != n:
        count = len(items) if isinstance(items, (tuple, list)) else 1
        raise ValueError(
            f"{f._label()}.backward returned {count} gradients for {n} "
            "inputs; return one Variable per input, in input order"
        )
    for i, gx in enumerate(items):
        if gx is not None and not isinstance(gx, Variable):
            raise _gradient_type_error(f, gx, i)
    return tuple(items)


def _all_gradients(
    items: tuple[object, ...], inputs: tuple[Variable, ...], f: FunctionBase
) -> TypeGuard[tuple[Variable | None, ...]]:
    """Raise on a wrong count, type or shape of ``f``'s gradients ``items``; False when only
    dtypes differ."""
    if len(items) != len(inputs):
        raise ValueError(
            f"{f._label()}.backward returned {len(items)} gradients for {len(inputs)} "
            "inputs; return one Variable per input, in input order"
        )
    same_dtypes = True
    for i, (x, gx) in enumerate(zip(inputs, items, strict=True)):
        if gx is None and not x.requires_grad:
            continue  # no gradient for a constant
        if not isinstance(gx, Variable):
            raise _gradient_type_error(f, gx, i)
        g = gx._data
        if g.shape != x._data.shape:
            raise ValueError(
                f"{f._label()}.backward returned a gradient of shape {g.shape} for "
                f"input {i} of shape {x._data.shape}; a gradient has its input's shape "
                "(for a broadcast input, sum the gradient back with sum_to)"
            )
        if g.dtype != x._data.dtype:
            same_dtypes = False
    return same_dtypes


def _cast_gradients(
    items: tuple[object, ...], inputs: tuple[Variable, ...]
) -> tuple[Variable | None, ...]:
    cast: list[Variable | None] = []
    for x, gx in zip(inputs, items, strict=True):
        assert gx is None or isinstance(gx, Variable)  # checked by _all_gradients
        cast.append(None if gx is None else astype(gx, x._data.dtype))
    return tuple(cast)


def _gradient_type_error(f: FunctionBase, gx: object, index: int) -> TypeError:
    hint = (
        "wrap it with Variable(...), or better compute it from Variables so that higher "
        "derivatives work"
        if isinstance(gx, np.ndarray)
        else "return Variables"
    )
    return TypeError(
        f"{f._label()}.backward returned {type(gx).__name__} for input {index}, "
        f"expected a Variable; {hint}"
    )


# ---------------------------------------------------------------------- the end of a pass
# One lock for every pass's accumulation into .grad: a pass adds all its gradients at once,
# so concurrent passes into shared leaves lose no update (issue 9, item 4).
_ACCUMULATE: Final = threading.Lock()


def _commit(
    seed: Variable,
    seeded: list[Variable],
    retained: list[tuple[Variable, Any]] | None,
    leaves: dict[Variable, Any],
    create_graph: bool,
) -> None:
    """Set the gradients of a finished pass: the seed, the retained intermediates', and add
    each leaf's gradient to its ``grad``. Array gradients (a first-order pass) become
    Variables here; every leaf's is checked against the leaf's shape and dtype."""
    handed = {id(seed._data)}  # arrays given out: another gradient must not share them
    leaf_grads = [(x, _gradient_for(x, g, create_graph)) for x, g in leaves.items()]
    kept = [(y, _gradient_for(y, g, create_graph)) for y, g in retained or ()]
    with _ACCUMULATE:
        root = seeded[0]
        if retained is None:
            for y in seeded:
                y.grad = None
        else:
            if root.grad is None:
                root.grad = seed
            for y, g in kept:
                if any(y is s for s in seeded):
                    handed.add(id(g._data))
                elif y.grad is None:
                    y.grad = _own(g, handed)
                else:
                    y.grad = y.grad + g
        for x, gx in leaf_grads:
            x.grad = _own(gx, handed) if x.grad is None else x.grad + gx


def _gradient_for(x: Variable, g: Any, create_graph: bool) -> Variable:
    """A gradient from a pass for ``x`` (a leaf, or a retained intermediate) as a Variable of
    ``x``'s shape and dtype."""
    gv: Variable = g if create_graph else _wrap(g)
    data, expected = gv._data, x._data
    if data.shape != expected.shape:
        raise ValueError(
            f"the gradient of a variable of shape {expected.shape} came out of the backward pass "
            f"with shape {data.shape}: an op's backward (or backward_array) returned a "
            "gradient of the wrong shape; `dezero-ext check` on the ops in the graph names it"
        )
    if data.dtype != expected.dtype:  # an op that keeps no inputs cannot know their dtype
        if create_graph:  # a cast in the graph: higher derivatives flow through it
            return astype(gv, expected.dtype)
        gv = wrap_array(cast(data, expected.dtype))  # type: ignore[arg-type]  # an array
    return gv


def _own(g: Variable, handed: set[int]) -> Variable:
    """``g``, or a copy when its array is shared with a gradient already given out, is a
    view (of a gradient elsewhere), or is read-only (a broadcast): the gradients a pass
    gives out are independent, writable arrays. Most are fresh arrays, never copied."""
    data = g._data
    if data.__class__ is not ndarray:  # another library's array: no flags, no .base
        if id(data) in handed:
            g = g * 1.0 if g.creator is not None else wrap_array(data * 1.0)
            data = g._data
    elif id(data) in handed or data.base is not None or not data.flags.writeable:
        # a copy in the graph under create_graph (g * 1.0 records it), a plain one otherwise
        g = g * 1.0 if g.creator is not None else wrap_array(data.copy())
        data = g._data
    handed.add(id(data))
    return g


# ---------------------------------------------------------------------- detect_anomaly()
def _check_finite(
    f: FunctionBase, gy: Any, gxs: tuple[Any, ...], nonfinite: dict[FunctionBase, Variable]
) -> None:
    """``detect_anomaly()``: raise if ``f`` made a nan or inf from finite values (the
    gradients are arrays in a first-order pass, Variables otherwise).

    ``f``'s outputs are read where the graph still has them: a live Variable, the array
    ``f`` kept (``saves_output``), or, in ``nonfinite``, an input of a function the pass ran
    before (the functions after ``f`` run first) that was not finite."""
    if f._made_nonfinite:
        raise FloatingPointError(
            f"detect_anomaly: {f._label()}'s forward gave nan or inf from finite inputs "
            "(seen when it ran)"
        )
    try:
        inputs = f.inputs
    except AttributeError:  # an op that keeps no inputs, and they are gone: it cannot tell
        return  # whether they were finite; the ops that made them are checked in turn
    upstream = [x for x in inputs if x is not None and not _finite(x)]
    if upstream:  # made upstream: the op that made it is checked when the pass gets there
        for x in upstream:
            if x.creator is not None:
                nonfinite.setdefault(x.creator, x)
        return
    outputs: list[Variable | Array] = [y for y in (ref() for ref in f.outputs) if y is not None]
    if is_set(f, _KEPT):
        outputs.append(f._y)
    if f in nonfinite:
        outputs.append(nonfinite[f])
    for y in outputs:
        if not _finite(y):
            raise FloatingPointError(
                f"detect_anomaly: {f._label()}'s forward gave nan or inf from finite inputs "
                f"(an output of shape {y.shape} holds {_nonfinite(y)})"
            )
    if gy is not None and not all(_finite(g) for g in (gy if isinstance(gy, list) else [gy])):
        return
    for i, gx in enumerate(gxs):
        if gx is not None and not _finite(gx):
            raise FloatingPointError(
                f"detect_anomaly: {f._label()}'s backward gave {_nonfinite(gx)} in the "
                f"gradient of input {i} from finite inputs, outputs and output gradients"
            )


def _finite(v: Variable | Array) -> bool:
    return bool(np.isfinite(v._data if isinstance(v, Variable) else v).all())


def _nonfinite(v: Variable | Array) -> str:
    data = v._data if isinstance(v, Variable) else np.asarray(v)
    kinds = [
        name for name, hit in (("nan", np.isnan(data).any()), ("inf", np.isinf(data).any())) if hit
    ]
    return " and ".join(kinds)


# ---------------------------------------------------------------------- small helpers
def _identity(a: Array) -> Array:
    return a


def _wrap(g: Any) -> Variable:
    """An array gradient as a Variable (a NumPy scalar becomes a 0-d array)."""
    if g.__class__ is ndarray or not isinstance(g, np.generic | int | float):
        return wrap_array(g)  # an ndarray, or another library's array (never through NumPy)
    return wrap_array(np.asarray(g))


ENGINE.backward = backward  # Variable.backward's way here (see variable.ENGINE)
