"""DeZero functions as checker targets: ``dezero_target(fn, ...)``.

``fn`` is a DeZero ``Function`` subclass (built with the drawn parameters as keyword
arguments, then applied: ``F.Sum(axis=0, keepdims=False)(x)``) or any callable on DeZero
Variables (``F.sin``, ``lambda x, W: F.linear(x, W)``, parameters as keyword arguments).
Its derivatives are DeZero's own: ``G_k`` is ``backward(create_graph=True)`` seeded with
``c_k``, so order k differentiates DeZero's order k-1 backward pass.

**NumPy 2.** DeZero 0.0.13 (2020) uses ``np.int``, removed in NumPy 1.24, as a default
argument in ``dezero/transforms.py``, so ``import dezero`` fails with ``AttributeError:
module 'numpy' has no attribute 'int'``. The one-line shim, before the first ``import
dezero``::

    import numpy as np; np.int = int  # DeZero 0.0.13 on NumPy >= 1.24

``import_dezero()`` applies it only for the import and takes it away again (nothing else in
the process sees ``np.int``). DeZero also imports matplotlib at import time without declaring
it; ``pip install 'dezero-ext[dezero]'`` installs both.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Unpack

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.adapters._base import (
    AdapterTarget,
    Declared,
    OutputError,
    check_unchanged,
    declare,
    source_of,
)
from dezero_ext.testing.protocol import Cotangents, Pullback

__all__ = ["DezeroTarget", "dezero_target", "import_dezero"]


def import_dezero() -> Any:
    """``import dezero`` on NumPy 2: ``np.int = int`` during the import, removed after it."""
    loaded = sys.modules.get("dezero")
    if loaded is not None:
        return loaded
    shimmed = not hasattr(np, "int")
    if shimmed:
        np.int = int  # type: ignore[attr-defined]  # DeZero 0.0.13 evaluates np.int at import
    try:
        dezero = importlib.import_module("dezero")  # optional, and untyped
    except ImportError as exc:
        raise ImportError(
            f"dezero_target needs DeZero 0.0.13 ({exc}): pip install 'dezero-ext[dezero]'"
        ) from None
    finally:
        if shimmed:
            del np.int  # type: ignore[attr-defined]  # only DeZero's import needed it
    return dezero


def dezero_target(fn: Callable[..., object], **declared: Unpack[Declared]) -> DezeroTarget:
    """``fn``, a DeZero ``Function`` subclass or a callable on DeZero Variables, as a checker
    ``Target``.

    Takes ``name`` and ``Declaration``'s fields as keywords (``DeclarationFields``: ``arity``,
    ``domains``, ``order``, ``dtypes``, ...), with the same meaning and defaults as an op's;
    ``name`` and ``arity`` are read off ``fn`` (a ``Function`` subclass: off its ``forward``)
    when left out. ``source``: the reproduce line's expression (default: this call)::

        check_op(dezero_target(F.Sin, domains=Domain(-3, 3), order=3))
    """
    dezero = import_dezero()
    if isinstance(fn, type) and issubclass(fn, dezero.Function):
        function_class: Any = fn
        spec = declare(
            function_class.forward, {"name": fn.__name__.lower(), **declared}, skip_first=True
        )
    else:
        spec = declare(fn, declared)
    source, imports, notes = source_of("dezero_target", fn, declared)
    return DezeroTarget(fn, spec, *_shimmed(source, imports), notes, declared.get("keywords"))


def _shimmed(source: str, imports: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The reproduce snippet reaches DeZero through ``import_dezero()`` (a plain ``import
    dezero`` fails on NumPy 2): ``dezero.functions.sum`` becomes
    ``import_dezero().functions.sum``."""
    if not any(re.fullmatch(r"import dezero(\..*)?", line) for line in imports):
        return source, imports
    kept = [line for line in imports if not re.fullmatch(r"import dezero(\..*)?", line)]
    kept.append("from dezero_ext.testing.adapters.dezero import import_dezero")
    return re.sub(r"(?<![\w.])dezero\.", "import_dezero().", source), tuple(kept)


class DezeroTarget(AdapterTarget):
    """A DeZero function under check (built by ``dezero_target``)."""

    framework = "DeZero"

    def _evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Array, ...]:
        dezero = import_dezero()
        xs = [dezero.Variable(np.array(x, copy=True)) for x in inputs]
        if not cotangents:
            with dezero.no_grad():
                ys = _arrays(self._apply(xs, params))
        else:
            ys = _arrays(self._level(xs, params, cotangents))
        check_unchanged(inputs, _arrays(xs), "DeZero", "the call")
        return ys

    def _linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[tuple[Array, ...], Pullback]:
        dezero = import_dezero()
        xs = [dezero.Variable(np.array(x, copy=True)) for x in inputs]
        ys = self._level(xs, params, cotangents)
        check_unchanged(inputs, _arrays(xs), "DeZero", "the call")

        def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            grads = _arrays(_vjp(ys, xs, vs, create_graph=False))
            check_unchanged(inputs, _arrays(xs), "DeZero", "backward")
            return grads

        return _arrays(ys), pullback

    def _constant(self, value: Array, xs: Sequence[Any]) -> Any:
        dtype = np.asarray(xs[0].data).dtype if xs else np.dtype(np.float64)
        return np.array(value, dtype=dtype)  # DeZero takes an array as a constant

    def _call(self, xs: Sequence[Any], params: Mapping[str, object]) -> object:
        dezero = import_dezero()
        fn = self.fn
        args = self._with_held(xs, lambda c: self._constant(c, xs))
        if isinstance(fn, type) and issubclass(fn, dezero.Function):
            named = {self.keywords.get(k, k): v for k, v in params.items()}
            return fn(**named)(*args)
        return super()._call(xs, params)

    def _apply(self, xs: Sequence[Any], params: Mapping[str, object]) -> tuple[Any, ...]:
        dezero = import_dezero()
        result = self._call(xs, params)
        items = tuple(result) if isinstance(result, tuple | list) else (result,)
        for i, y in enumerate(items):
            if not isinstance(y, dezero.Variable):
                raise OutputError(
                    f"{self.spec.name} returned {type(y).__name__} as output {i}, "
                    "expected DeZero Variables"
                )
            if not np.issubdtype(np.asarray(y.data).dtype, np.floating):
                raise OutputError(
                    f"{self.spec.name} returned output {i} as {np.asarray(y.data).dtype}: "
                    "only floating outputs have gradients"
                )
        return items

    def _level(
        self, xs: Sequence[Any], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Any, ...]:
        ys = self._apply(xs, params)
        for cs in cotangents:
            ys = _vjp(ys, xs, cs, create_graph=True)
        return ys


def _vjp(
    ys: Sequence[Any], xs: Sequence[Any], vs: Sequence[Array], *, create_graph: bool
) -> tuple[Any, ...]:
    """DeZero's gradient of ``sum_k <vs[k], ys[k]>`` with respect to ``xs``: one output is
    seeded with its cotangent; several are first summed with DeZero's ``sum`` of products (so
    outputs that share a graph, or are the same Variable, are handled as DeZero would)."""
    dezero = import_dezero()
    seeds = [
        dezero.Variable(np.asarray(v, dtype=y.data.dtype).reshape(y.shape))
        for y, v in zip(ys, vs, strict=True)
    ]
    for x in xs:
        x.cleargrad()
    if len(ys) == 1 and ys[0].creator is not None and all(ys[0] is not x for x in xs):
        ys[0].grad = seeds[0]
        ys[0].backward(create_graph=create_graph)
    else:
        total: Any = None
        with dezero.using_config("enable_backprop", True):
            for y, seed in zip(ys, seeds, strict=True):
                term = dezero.functions.sum(y * seed)
                total = term if total is None else total + term
        if total is not None:
            total.backward(create_graph=create_graph)
    grads = []
    for x in xs:
        g = x.grad
        grads.append(dezero.Variable(np.zeros_like(x.data)) if g is None else g)
        x.cleargrad()
    return tuple(grads)


def _arrays(variables: Sequence[Any]) -> tuple[Array, ...]:
    return tuple(np.array(np.asarray(v.data), copy=True) for v in variables)
