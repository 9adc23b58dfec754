"""Every hook of the plugin interface is documented for plugin authors and has a docstring
(datasette's rule: a hook nobody can read about is a hook nobody can use)."""

from __future__ import annotations

import inspect
from pathlib import Path

from dezero_ext.hookspecs import OpSpecs

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugin_guide.md"


def test_every_hookspec_has_a_docstring_and_a_place_in_the_plugin_guide() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    hooks = [name for name, _ in inspect.getmembers(OpSpecs) if name.startswith("dezero_ext_")]
    assert hooks == ["dezero_ext_ops"]
    for name in hooks:
        assert inspect.getdoc(getattr(OpSpecs, name)), f"{name} has no docstring"
        assert f"def {name}(" in guide, f"{name} is not shown in docs/plugin_guide.md"
