"""The plugin interface: one hook, ``dezero_ext_ops``, that returns the ops a plugin provides.

A plugin is a module (or object) with a function marked ``@dezero_ext.hookimpl``::

    @hookimpl
    def dezero_ext_ops() -> list[OpDef]:
        return [OpDef(name="soft_plus", function=SoftPlus, order=2)]

and an entry point in the group ``dezero_ext`` naming that module. The built-in ops are
registered through the same path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Protocol

import pluggy

if TYPE_CHECKING:
    from dezero_ext.opdef import OpDef

__all__ = ["ENTRY_POINT_GROUP", "OpSpecs", "OpsPlugin", "PROJECT", "hookimpl", "hookspec"]

PROJECT: Final = "dezero_ext"
ENTRY_POINT_GROUP: Final = "dezero_ext"

hookspec: Final = pluggy.HookspecMarker(PROJECT)
hookimpl: Final = pluggy.HookimplMarker(PROJECT)


class OpSpecs:
    """The hook specifications (pluggy reads them from this class)."""

    @hookspec
    def dezero_ext_ops(self) -> Iterable[OpDef]:  # type: ignore[empty-body]  # a specification, never called
        """Return the ``OpDef`` of every op this plugin provides.

        Called once per registry load; return declarations only (import heavy dependencies
        inside ``forward``/``backward``, not here).
        """


class OpsPlugin(Protocol):
    """The shape of a plugin module, for static checks: ``_: OpsPlugin = my_plugin_module``."""

    def dezero_ext_ops(self) -> Iterable[OpDef]: ...
