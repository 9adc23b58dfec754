"""The plugin's entry point (group ``dezero_ext``, name ``math``, in pyproject.toml): the
``dezero_ext_ops`` hook, which gathers the ops ``elementwise`` and ``reduction`` declare
beside their classes in an ``OpSet`` named ``ops``. The registry loads this module; users
import the package (``from dezero_ext_math import sin, logsumexp``), whose namespace holds
the ops and no hook."""

from __future__ import annotations

from dezero_ext import OpDef, hookimpl
from dezero_ext_math import elementwise, reduction

__all__ = ["dezero_ext_ops"]


@hookimpl
def dezero_ext_ops() -> list[OpDef]:
    """Every op of the math plugin."""
    return [*elementwise.ops, *reduction.ops]
