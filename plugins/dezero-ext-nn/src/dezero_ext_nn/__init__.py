"""dezero-ext-nn: neural-network ops for dezero_ext, shipped as an ordinary plugin.

Found through its entry point (group ``dezero_ext``, name ``nn``). Each op is also a typed
function importable from its module and from here.
"""

from __future__ import annotations

from dezero_ext import OpDef, hookimpl
from dezero_ext_nn import activation, conv, layers, loss

__all__ = ["dezero_ext_ops"]


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    return [*activation.ops(), *loss.ops(), *layers.ops(), *conv.ops()]
