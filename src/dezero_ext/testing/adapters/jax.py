"""JAX functions as checker targets: ``jax_target(fn, ...)``.

``fn`` is any function of ``jax.numpy`` arrays, ``jax.custom_vjp`` and ``jax.custom_jvp``
functions included. Its derivatives are JAX's own: ``G_k`` is the ``jax.vjp`` of ``G_{k-1}``
applied to ``c_k``, nested, so order k differentiates through the order k-1 pullback (and a
``custom_vjp``'s ``bwd``) as ``jax.grad(jax.grad(f))`` does. Checks in float64 run with
``jax.enable_x64`` (only while the target runs, not for the rest of the process); float32
checks run in JAX's default 32-bit mode, as a user's code does. A ``jax.custom_jvp`` function
(or any function declared ``jvp="native"``) has its forward-mode rule checked too: ``J v`` by
``jax.jvp`` against ``jax.vjp`` by the transpose identity and against central differences
(``testing/jvpcheck.py``). JAX's VJP of a ``custom_jvp`` function is the transpose of the rule,
so a wrong rule makes both sides wrong alike (named as the rule); the VJP alone is wrong when a
transpose rule is (a primitive's ``ad.primitive_transposes``).

JAX is imported on first use (``pip install 'dezero-ext[jax]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Unpack

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.adapters._base import (
    AdapterTarget,
    Declared,
    OutputError,
    declare,
    source_of,
)
from dezero_ext.testing.compose import Composite
from dezero_ext.testing.jvpcheck import RuleNames
from dezero_ext.testing.protocol import Cotangents, Declaration, Pullback, Target

__all__ = ["JaxTarget", "jax_target"]

Level = Callable[..., tuple[Any, ...]]


def _jax() -> Any:
    try:
        return importlib.import_module("jax")
    except ImportError as exc:
        raise ImportError(f"jax_target needs JAX ({exc}): pip install 'dezero-ext[jax]'") from None


def jax_target(fn: Callable[..., object], **declared: Unpack[Declared]) -> JaxTarget:
    """``fn``, a function of JAX arrays, as a checker ``Target``.

    Takes ``name`` and ``Declaration``'s fields as keywords (``DeclarationFields``: ``arity``,
    ``domains``, ``order``, ``dtypes``, ...), with the same meaning and defaults as an op's;
    ``name`` and ``arity`` are read off ``fn`` when left out. Parameters drawn by a ``sample``
    function or a ``REDUCTION`` shape rule are passed as keyword arguments (static, never
    differentiated). ``source``: the reproduce line's expression (default: this call)::

        check_op(jax_target(my_softplus, domains=Domain(-4, 4), order=2))
    """
    _jax()
    spec = declare(fn, declared)
    target = JaxTarget(fn, spec, *source_of("jax_target", fn, declared), declared.get("keywords"))
    target.forward_rule = _forward_rule(fn, spec)
    return target


def _forward_rule(fn: object, spec: Declaration) -> RuleNames | None:
    """A ``jax.custom_jvp`` function's rule, or JAX's forward mode when the declaration says
    ``jvp="native"``."""
    if spec.jvp == "fallback":
        return None
    if isinstance(fn, _jax().custom_jvp):
        return RuleNames(
            f"the custom_jvp rule of {spec.name}",
            f"JAX's transpose of the custom_jvp rule of {spec.name}",
            "JAX's VJP of a custom_jvp function transposes its rule: a wrong rule makes both "
            "sides wrong alike; the VJP alone is wrong when a primitive's transpose rule is",
        )
    if spec.jvp == "native":
        return RuleNames(f"jax.jvp of {spec.name}", f"jax.vjp of {spec.name}")
    return None


class JaxTarget(AdapterTarget):
    """A function of JAX arrays under check (built by ``jax_target``).

    ``G_k`` and its pullback are compiled with ``jax.jit`` (once per parameters and shapes:
    eager JAX compiles every primitive per shape anyway, and a check calls them many times);
    a function that cannot be traced (Python control flow on values) runs eagerly."""

    framework = "JAX"

    def __init__(
        self,
        fn: Callable[..., object],
        spec: Declaration,
        source: str,
        imports: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        keywords: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(fn, spec, source, imports, notes, keywords)
        self.jit = True
        """Whether ``G_k`` is compiled; False once the function turned out untraceable."""
        self._cache: dict[tuple[object, ...], Level] = {}

    def holding(self, constants: Sequence[Array | None]) -> JaxTarget:
        held = super().holding(constants)
        assert isinstance(held, JaxTarget)
        # eager: compiling once per example (its constants are baked in) costs more than it
        # saves, and the compiled functions of the whole target must not be shared
        held._cache, held.jit = {}, False
        return held

    def _internal_packages(self) -> tuple[str, ...]:
        return ("jax", "jaxlib")

    def composed(self, composite: Composite, spec: Declaration) -> Target:
        # eager: a composition differs per example (its permutations), so compiling it would
        # cost a trace per example; JAX arrays are immutable, so no mutation check is needed
        clone = super().composed(composite, spec)
        assert isinstance(clone, JaxTarget)
        clone.jit, clone._cache = False, {}
        return clone

    def _constant(self, value: Array, xs: Sequence[Any]) -> Any:
        return _jax().numpy.asarray(value, dtype=xs[0].dtype if xs else None)

    def _apply(self, xs: Sequence[Any], params: Mapping[str, object]) -> tuple[Any, ...]:
        return self._outputs(self._call(xs, params))

    def _evaluate(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[Array, ...]:
        with _precision(inputs):
            xs, cs = _jax_arrays(inputs), _levels(cotangents)
            level = self._level(params, len(cs))
            if self.jit:
                try:
                    return _arrays(self._compiled("evaluate", params, level, len(cs))(xs, cs))
                except _untraceable():
                    self.jit = False  # Python control flow on values: eager from now on
            return _arrays(level(cs, *xs))

    def _linearize(
        self, inputs: Sequence[Array], params: Mapping[str, object], cotangents: Cotangents
    ) -> tuple[tuple[Array, ...], Pullback]:
        with _precision(inputs):
            xs, cs = _jax_arrays(inputs), _levels(cotangents)
            level = self._level(params, len(cs))
            if self.jit:
                try:
                    pull = self._compiled("pullback", params, level, len(cs))
                    ys = pull(xs, cs, _zero_cotangents(level, xs, cs))[0]
                except _untraceable():
                    self.jit = False
                else:

                    def pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
                        with _precision(inputs):
                            return _arrays(pull(xs, cs, _cast(vs, ys))[1])

                    return _arrays(ys), pullback
            ys, vjp = _jax().vjp(lambda *x: level(cs, *x), *xs)

        def eager_pullback(vs: Sequence[Array]) -> tuple[Array, ...]:
            with _precision(inputs):
                return _arrays(vjp(_cast(vs, ys)))

        return _arrays(ys), eager_pullback

    def _tangents(
        self, inputs: Sequence[Array], params: Mapping[str, object], tangents: Sequence[Array]
    ) -> tuple[Array, ...]:
        jax = _jax()
        with _precision(inputs):
            xs = _jax_arrays(inputs)
            ts = [
                jax.numpy.asarray(np.asarray(t), dtype=x.dtype)
                for x, t in zip(xs, tangents, strict=True)
            ]
            if self.jit:
                try:
                    return _arrays(self._compiled("jvp", params, self._level(params, 0), 0)(xs, ts))
                except _untraceable():
                    self.jit = False
            _, out = jax.jvp(lambda *x: self._apply(x, params), tuple(xs), tuple(ts))
            return _arrays(out)

    def _compiled(self, kind: str, params: Mapping[str, object], level: Level, k: int) -> Level:
        """``G_k(xs, cs)`` (``kind="evaluate"``), ``pull(xs, cs, vs) = (G_k(xs), vᵀJ)`` or
        ``push(xs, ts) = J t`` (``"jvp"``, k = 0), jitted, once per parameters (``jax.jit``
        then compiles once per shape)."""
        jax = _jax()
        key = (kind, k, _freeze(params))
        compiled = self._cache.get(key)
        if compiled is not None:
            return compiled

        def evaluate(xs: Sequence[Any], cs: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
            return level(cs, *xs)

        def pull(
            xs: Sequence[Any], cs: Sequence[Sequence[Any]], vs: Sequence[Any]
        ) -> tuple[Any, ...]:
            ys, vjp = jax.vjp(lambda *x: level(cs, *x), *xs)
            return ys, vjp(tuple(vs))

        def push(xs: Sequence[Any], ts: Sequence[Any]) -> tuple[Any, ...]:
            return tuple(jax.jvp(lambda *x: level((), *x), tuple(xs), tuple(ts))[1])

        if len(self._cache) > 256:
            self._cache.clear()
        kinds = {"evaluate": evaluate, "pullback": pull, "jvp": push}
        jitted: Level = jax.jit(kinds[kind])
        self._cache[key] = jitted
        return jitted

    def _level(self, params: Mapping[str, object], k: int) -> Callable[..., tuple[Any, ...]]:
        """``G_k(cs, *xs)``: the vjp of ``G_{k-1}`` applied to ``cs[k-1]``, nested."""
        jax = _jax()

        def level0(cs: Sequence[Sequence[Any]], *xs: Any) -> tuple[Any, ...]:
            return self._apply(xs, params)

        level: Callable[..., tuple[Any, ...]] = level0
        for j in range(k):

            def lifted(
                cs: Sequence[Sequence[Any]],
                *xs: Any,
                below: Callable[..., tuple[Any, ...]] = level,
                j: int = j,
            ) -> tuple[Any, ...]:
                ys, vjp = jax.vjp(lambda *x: below(cs, *x), *xs)
                return tuple(vjp(tuple(c.astype(y.dtype) for c, y in zip(cs[j], ys, strict=True))))

            level = lifted
        return level

    def _outputs(self, result: object) -> tuple[Any, ...]:
        jax = _jax()
        items = tuple(result) if isinstance(result, tuple | list) else (result,)
        for i, y in enumerate(items):
            if not isinstance(y, jax.Array):
                raise OutputError(
                    f"{self.spec.name} returned {type(y).__name__} as output {i}, "
                    "expected JAX arrays"
                )
            if not jax.numpy.issubdtype(y.dtype, jax.numpy.floating):
                raise OutputError(
                    f"{self.spec.name} returned output {i} as {y.dtype}: only floating "
                    "outputs have gradients (return it from a separate function)"
                )
        return items


def _untraceable() -> tuple[type[Exception], ...]:
    """What ``jax.jit`` raises for Python control flow on traced values."""
    errors = _jax().errors
    return (
        errors.ConcretizationTypeError,
        errors.TracerArrayConversionError,
        errors.TracerBoolConversionError,
        errors.TracerIntegerConversionError,
    )


def _freeze(value: object) -> object:
    """A hashable key for parameters (arrays by dtype, shape and bytes)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, tuple | list):
        return (type(value).__name__, *(_freeze(v) for v in value))
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        return ("array", array.dtype.str, array.shape, array.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def _zero_cotangents(
    level: Callable[..., tuple[Any, ...]], xs: Sequence[Any], cs: Sequence[Sequence[Any]]
) -> tuple[Any, ...]:
    """Zeros shaped like ``G_k``'s outputs (traced, not compiled): the pullback's first call
    gives the outputs from the same compiled function the later calls use."""
    jax = _jax()
    shapes = jax.eval_shape(lambda *x: level(cs, *x), *xs)
    return tuple(jax.numpy.asarray(np.zeros(s.shape, s.dtype)) for s in shapes)


def _levels(cotangents: Cotangents) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(_jax().numpy.asarray(np.asarray(c)) for c in cs) for cs in cotangents)


@contextmanager
def _precision(inputs: Sequence[Array]) -> Iterator[None]:
    """64-bit JAX while float64 inputs are checked (or when the user enabled it already)."""
    jax = _jax()
    wide = bool(jax.config.jax_enable_x64) or any(np.asarray(x).dtype == np.float64 for x in inputs)
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        enable_x64 = importlib.import_module("jax.experimental").enable_x64
    with enable_x64(wide):
        yield


def _jax_arrays(arrays: Sequence[Array]) -> list[Any]:
    jnp = _jax().numpy
    return [jnp.asarray(np.asarray(a)) for a in arrays]


def _cast(vs: Sequence[Array], like: Sequence[Any]) -> tuple[Any, ...]:
    """Cotangents as JAX arrays in the dtype and shape of the outputs they pair with."""
    jnp = _jax().numpy
    return tuple(
        jnp.asarray(np.asarray(v, dtype=y.dtype).reshape(y.shape))
        for v, y in zip(vs, like, strict=True)
    )


def _arrays(values: Sequence[Any]) -> tuple[Array, ...]:
    return tuple(np.array(v, copy=True) for v in values)
