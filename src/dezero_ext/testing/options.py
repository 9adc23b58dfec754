"""``CheckOptions``: how the registered ops are checked, one object shared by
``dezero-ext check`` and the pytest plugin (which ops, how many examples, which orders).

Importing this module does not import Hypothesis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, UnknownOpError
from dezero_ext.testing.target import Declaration

__all__ = ["DEFAULT_EXAMPLES", "CheckOptions"]

DEFAULT_EXAMPLES: Final = 25
"""Examples per op and order in ``dezero-ext check`` and the generated pytest tests."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """Which ops to check and how.

    - ``ops``/``plugins``: the ops named, plus every op of the plugins named (plugin or
      distribution names); all registered ops when both are empty.
    - ``examples``: Hypothesis examples per op and derivative order.
    - ``max_order``: check orders 1 up to this (default: each op's declared order).
    - ``seed``: a random seed; ``None`` derandomizes (the same examples every run).
    - ``full_jacobian``: compare every Jacobian entry on every example.
    """

    ops: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    examples: int = DEFAULT_EXAMPLES
    max_order: int | None = None
    seed: int | None = None
    full_jacobian: bool = False

    def __post_init__(self) -> None:
        if self.examples < 1:
            raise ValueError(f"examples must be >= 1, got {self.examples}")
        if self.max_order is not None and self.max_order < 1:
            raise ValueError(f"max_order must be >= 1, got {self.max_order}")

    @property
    def whole_registry(self) -> bool:
        """Whether every registered op is checked (no op or plugin named)."""
        return not self.ops and not self.plugins

    def orders(self, spec: Declaration) -> tuple[int, ...]:
        """The derivative orders an op (or any target's ``spec``) is checked at."""
        top = spec.order if self.max_order is None else min(self.max_order, spec.order)
        return tuple(range(1, top + 1))

    def select(self, registry: OpRegistry) -> list[OpDef]:
        """The selected ops, in the order named, then in registry order; raises
        ``UnknownOpError`` for an op or plugin that is not installed."""
        if self.whole_registry:
            return list(registry.ops().values())
        ops = [registry.get(name) for name in self.ops]
        if self.plugins:
            installed = {p.name for p in registry.plugins()}
            installed |= {p.distribution for p in registry.plugins() if p.distribution}
            for plugin in self.plugins:
                if plugin not in installed:
                    raise UnknownOpError(
                        f"no plugin named {plugin!r}; installed: {', '.join(sorted(installed))}"
                    )
            ops += [
                op
                for op in registry.ops().values()
                if op not in ops and self._provided_by_selected_plugin(registry, op)
            ]
        return ops

    def _provided_by_selected_plugin(self, registry: OpRegistry, op: OpDef) -> bool:
        info = registry.provider(op.name)
        return info.name in self.plugins or (info.distribution or "") in self.plugins
