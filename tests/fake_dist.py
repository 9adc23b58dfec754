"""An op plugin "installed" for a subprocess: a module plus a ``.dist-info`` directory with
its entry point, in a folder put on ``PYTHONPATH`` (importlib.metadata finds it there, as it
finds a pip-installed distribution)."""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD_PLUGIN = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, hookimpl

class Cube(Function):
    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * x * gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("cube", Cube, domains=(Domain(-2.0, 2.0),), order=2)]
"""

BAD_PLUGIN = """
import numpy as np
from dezero_ext import Domain, Function, OpDef, hookimpl

class BadCube(Function):
    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        (x,) = self.inputs
        return -3 * x * x * gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("bad_cube", BadCube, domains=(Domain(-2.0, 2.0),))]
"""


def install(site: Path, name: str, source: str) -> Path:
    """Write module ``name`` and a distribution ``name`` with a ``dezero_ext`` entry point
    into ``site``; return ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dezero_ext]\n{name} = {name}\n")
    return site
