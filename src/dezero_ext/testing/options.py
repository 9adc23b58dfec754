"""``CheckOptions``: how the checker checks, one frozen object from ``dezero-ext check`` and
the pytest plugin down to each example (``check_op``, ``check_gradients``, ``check_layer``,
``gradient_test`` all take it), and which registered ops the command and the plugin select.

Importing this module does not import Hypothesis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dezero_ext.core.backend import BACKENDS
from dezero_ext.opdef import OpDef, Tolerance
from dezero_ext.registry import OpRegistry, PluginError, UnknownOpError, normalize_distribution
from dezero_ext.testing.protocol import Declaration

__all__ = ["DEFAULT_EXAMPLES", "DEFAULT_TIMEOUT", "CheckOptions"]

DEFAULT_EXAMPLES: Final = 25
"""Examples per op and order in ``dezero-ext check`` and the generated pytest tests."""

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds an op's check may take at ``DEFAULT_EXAMPLES`` examples (the slowest bundled op
takes about 2 s); the default limit grows with the examples asked for, and five-fold with the
full Jacobian."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """How to check, and which registered ops (``dezero-ext check``, the pytest plugin).

    How, for every checker function:

    - ``examples``: Hypothesis examples per derivative order (``check_op``,
      ``gradient_test``, ``check_layer``; ``check_gradients`` checks the one it is given).
    - ``max_order``: check orders 1 up to this, at most the declared order (default: the
      declared order; for a layer, 2).
    - ``orders``: check exactly these orders instead (a layer's are then not capped by what
      its ops declare).
    - ``seed``: the random seed; ``None`` derandomizes the examples (the same every run).
      ``check_gradients`` seeds its random directions with it (``None``: 0).
    - ``full_jacobian``: compare every Jacobian entry on every example (about 5x slower).
    - ``tolerance``: the allowed error, instead of the declared ``Tolerance``.
    - ``compose``: also check an op in small compositions (``check_gradients``).
    - ``stress``: check each op on large inputs instead (more than 10**4 elements, by
      random projections only, within a time budget per op: ``dezero_ext.testing.stress``;
      ``check_op`` and ``dezero-ext check --stress``).
    - ``traced``: also check, on every drawn example, that ``dezero_ext.trace`` of the op
      gives its output and gradients bit for bit (``dezero_ext.testing.tracecheck``;
      ``check_op`` and ``dezero-ext check --traced``).
    - ``backend``: the array library the op is run on (``numpy``, ``array-api-strict``,
      ``dask``, ``cupy``): the examples are drawn in NumPy and moved there
      (``dezero_ext.testing.backends``); an op that does not declare the backend
      (``Declaration.backends``) is not applicable (``check_op``'s verdict ``n/a``).
    - ``timeout``: seconds a check may take (``check_op`` and ``dezero-ext check``: the whole
      op; pytest: one derivative order); 0 for no limit; ``None`` for the default,
      ``DEFAULT_TIMEOUT`` in proportion to ``examples`` (and five times that with
      ``full_jacobian``, and again on Dask).

    Which, for ``dezero-ext check`` and the pytest plugin (the functions ignore them):
    ``ops``/``plugins``, the ops named plus every op of the plugins named (plugin or
    distribution names); all registered ops when both are empty.
    """

    examples: int = DEFAULT_EXAMPLES
    max_order: int | None = None
    orders: tuple[int, ...] | None = None
    seed: int | None = None
    full_jacobian: bool = False
    tolerance: Tolerance | None = None
    compose: bool = True
    timeout: float | None = None
    stress: bool = False
    traced: bool = False
    backend: str = "numpy"
    ops: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.examples < 1:
            raise ValueError(f"examples must be >= 1, got {self.examples}")
        if self.max_order is not None and self.max_order < 1:
            raise ValueError(f"max_order must be >= 1, got {self.max_order}")
        if self.orders is not None:
            orders = tuple(sorted(set(self.orders)))
            if not orders or any(not isinstance(k, int) or k < 1 for k in orders):
                raise ValueError(f"orders must be ints >= 1, got {self.orders!r}")
            object.__setattr__(self, "orders", orders)  # frozen: normalise once, here
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend != "numpy" and (self.stress or self.traced):
            raise ValueError(
                f"backend={self.backend!r} checks the drawn examples: not with stress or traced"
            )
        if self.timeout is not None and not self.timeout >= 0:
            raise ValueError(f"timeout must be >= 0 seconds (0: no limit), got {self.timeout}")

    @property
    def time_limit(self) -> float | None:
        """The seconds an op's check may take; ``None`` for no limit."""
        if self.timeout is not None:
            return self.timeout or None
        scale = max(1.0, self.examples / DEFAULT_EXAMPLES) * (5.0 if self.full_jacobian else 1.0)
        # Dask builds and schedules a graph per call: an order-3 check of div takes ~10 s at
        # 5 examples (the same on NumPy: 0.3 s)
        return DEFAULT_TIMEOUT * scale * (5.0 if self.backend == "dask" else 1.0)

    @property
    def whole_registry(self) -> bool:
        """Whether every registered op is checked (no op or plugin named)."""
        return not self.ops and not self.plugins

    def orders_for(self, spec: Declaration) -> tuple[int, ...]:
        """The derivative orders an op (or any target's ``spec``) is checked at: ``orders``,
        else 1 up to the declared order (at most ``max_order``)."""
        if self.orders is not None:
            return self.orders
        top = spec.order if self.max_order is None else min(self.max_order, spec.order)
        return tuple(range(1, top + 1))

    def select(self, registry: OpRegistry) -> list[OpDef]:
        """The selected ops, in the order named, then in registry order. Raises
        ``UnknownOpError`` for an op or plugin that is not installed, and the plugin's
        ``PluginError`` for a plugin named that failed to load."""
        if self.whole_registry:
            return list(registry.ops().values())
        ops = [registry.get(name) for name in self.ops]
        for plugin in self.plugins:
            self._check_plugin(registry, plugin)
        if self.plugins:
            ops += [
                op
                for op in registry.ops().values()
                if op not in ops and self._provided_by_selected_plugin(registry, op)
            ]
        return ops

    def _check_plugin(self, registry: OpRegistry, plugin: str) -> None:
        key = normalize_distribution(plugin)
        for failure in registry.failures:
            names = {failure.plugin, failure.distribution or ""}
            if key in {normalize_distribution(name) for name in names if name}:
                raise failure
        infos = [info for info in registry.plugins() if key in _names(info.name, info.distribution)]
        if not infos:
            installed = sorted(
                {n for p in registry.plugins() for n in (p.name, p.distribution) if n}
            )
            raise UnknownOpError(f"no plugin named {plugin!r}; installed: {', '.join(installed)}")
        if not any(info.ops for info in infos):
            raise PluginError(plugin, infos[0].distribution, "provides no op")

    def _provided_by_selected_plugin(self, registry: OpRegistry, op: OpDef) -> bool:
        info = registry.provider(op.name)
        wanted = {normalize_distribution(p) for p in self.plugins}
        return bool(wanted & _names(info.name, info.distribution))


def _names(plugin: str, distribution: str | None) -> set[str]:
    names = {normalize_distribution(plugin)}
    if distribution:
        names.add(normalize_distribution(distribution))
    return names
