"""Each bundled plugin has two doors: its entry point, a ``plugin`` module holding the
``dezero_ext_ops`` hook, and its package, the namespace users import
(``import dezero_ext_nn as nn``), which holds no hook and loads no plugin machinery."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata

import pytest

from dezero_ext import get_registry

BUNDLED = [("dezero-ext-math", "dezero_ext_math", "math"), ("dezero-ext-nn", "dezero_ext_nn", "nn")]


@pytest.mark.parametrize(("distribution", "package", "name"), BUNDLED)
def test_the_entry_point_is_the_plugin_module_whose_hook_gives_the_registered_ops(
    distribution: str, package: str, name: str
) -> None:
    points = metadata.distribution(distribution).entry_points
    (point,) = [p for p in points if p.group == "dezero_ext"]
    assert (point.name, point.value) == (name, f"{package}.plugin"), (
        f"reinstall the plugin (pip install -e plugins/{distribution}) to refresh its entry point"
    )
    hook = point.load().dezero_ext_ops
    registry = get_registry()
    declared = [op.name for op in hook()]
    assert len(declared) == len(set(declared)) > 0
    assert set(declared) == {op for op in registry.ops() if registry.provider(op).name == name}


@pytest.mark.parametrize(("distribution", "package", "name"), BUNDLED)
def test_the_package_is_the_public_namespace_only(
    distribution: str, package: str, name: str
) -> None:
    namespace = importlib.import_module(package)
    assert "dezero_ext_ops" not in namespace.__all__
    assert not hasattr(namespace, "dezero_ext_ops")
    for public in namespace.__all__:
        assert getattr(namespace, public) is not None, public


def test_importing_the_namespaces_loads_neither_pluggy_nor_the_entry_points() -> None:
    code = (
        "import sys\n"
        "import dezero_ext_math, dezero_ext_nn as nn\n"
        "nn.functions.relu, nn.layers.Linear, nn.optimizers.SGD, nn.DataLoader\n"
        "print(sorted(m for m in sys.modules if m == 'pluggy' or m.endswith('.plugin')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
