"""The plugin's entry point (group ``dezero_ext``, name ``nn``, in pyproject.toml): the
``dezero_ext_ops`` hook, which gathers the ops each module declares beside its classes in an
``OpSet`` named ``ops``. The registry loads this module; users import the package,
``import dezero_ext_nn as nn``, whose namespace holds the ops' typed functions and the
training toolkit, and no hook."""

from __future__ import annotations

from dezero_ext import OpDef, hookimpl
from dezero_ext_nn import activation, conv, layer_ops, loss, pool, sliding

__all__ = ["dezero_ext_ops"]


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    """Every op of the nn plugin."""
    return [
        *activation.ops,
        *loss.ops,
        *layer_ops.ops,
        *conv.ops,
        *pool.ops,
        *sliding.ops,
    ]
