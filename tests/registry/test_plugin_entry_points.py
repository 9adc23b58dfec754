"""Each bundled plugin has two doors: its entry point, a ``plugin`` module holding the
``dezero_ext_ops`` hook, and its package, the namespace users import
(``import dezero_ext_nn as nn``), which holds no hook and loads no plugin machinery."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata
from importlib.metadata import EntryPoint

import pytest

from dezero_ext import get_registry
from dezero_ext.registry import OpRegistry, PluginError, PluginLoadWarning

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


def test_an_entry_point_without_the_hook_is_a_reported_failure_not_a_plugin_without_ops() -> None:
    """What a stale install looks like: its entry point still names the package, which no
    longer holds the hook."""
    registry = OpRegistry()
    stale = EntryPoint(name="nn", value="dezero_ext_nn", group="dezero_ext")
    with pytest.warns(PluginLoadWarning, match="has no dezero_ext_ops hook"):
        assert registry.load_entrypoints([stale], allow=["nn"]) == 0
    (failure,) = registry.failures
    assert failure.plugin == "nn"
    assert "dezero_ext_nn has no dezero_ext_ops hook" in str(failure)
    assert "reinstall the distribution" in str(failure)
    assert registry.plugins() == []
    with pytest.raises(PluginError, match="has no dezero_ext_ops hook"):
        OpRegistry(strict=True).load_entrypoints([stale], allow=["nn"])
