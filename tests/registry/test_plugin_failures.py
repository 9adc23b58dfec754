"""A broken or misnamed plugin never takes the host down: whatever it raises at import or in
its hook is reported with its name, names in DEZERO_EXT_PLUGINS that match no plugin are
reported, and DEZERO_EXT_STRICT_PLUGINS turns any of these into an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dezero_ext import OpDef, OpRegistry, PluginError, hookimpl
from dezero_ext.registry import PluginLoadWarning
from tests import fake_dist
from tests.registry.test_registry import entry_points_of, make_distribution


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DEZERO_EXT_PLUGINS", raising=False)
    monkeypatch.delenv("DEZERO_EXT_STRICT_PLUGINS", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "body", ["import sys\nsys.exit(3)\n", "raise SystemExit('bye')\n", "raise GeneratorExit\n"]
)
def test_a_plugin_raising_a_base_exception_at_import_is_skipped(site: Path, body: str) -> None:
    make_distribution(
        site, "exiting-plugin", {"exiting": "exiting_plugin"}, {"exiting_plugin": body}
    )
    registry = OpRegistry(strict=False)
    registry.register_builtins()
    with pytest.warns(PluginLoadWarning, match="'exiting' .*exiting-plugin.*failed to import"):
        registry.load_entrypoints(entry_points_of("exiting-plugin"))
    assert "square" in registry.ops()
    (failure,) = registry.failures
    assert failure.plugin == "exiting"


class HookExits:
    @hookimpl
    def dezero_ext_ops(self) -> list[OpDef]:
        raise SystemExit(4)


def test_a_hook_raising_system_exit_is_skipped() -> None:
    registry = OpRegistry(strict=False)
    registry.register(HookExits(), "exits")
    with pytest.warns(PluginLoadWarning, match="'exits'.*SystemExit: 4"):
        assert dict(registry.ops()) == {}


def test_keyboard_interrupt_in_a_plugin_still_interrupts(site: Path) -> None:
    make_distribution(
        site, "ki-plugin", {"ki": "ki_plugin"}, {"ki_plugin": "raise KeyboardInterrupt\n"}
    )
    with pytest.raises(KeyboardInterrupt):
        OpRegistry(strict=False).load_entrypoints(entry_points_of("ki-plugin"))


def _installed(site: Path) -> list[object]:
    make_distribution(
        site,
        "dezero-ext-fake",
        {"fake": "fake_ops"},
        {
            "fake_ops": "from dezero_ext import OpDef, hookimpl\n"
            "from dezero_ext.ops.basic import Square\n"
            "@hookimpl\ndef dezero_ext_ops():\n    return [OpDef('fake_square', Square)]\n"
        },
    )
    return list(entry_points_of("dezero-ext-fake"))


@pytest.mark.parametrize("name", ["fake", "dezero-ext-fake", "dezero_ext_fake", "Dezero.Ext.Fake"])
def test_plugins_are_named_by_entry_point_or_distribution_as_pip_spells_it(
    site: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    eps = _installed(site)
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", name)
    registry = OpRegistry(strict=True)
    registry.load_entrypoints(eps)  # type: ignore[arg-type]  # EntryPoints, listed
    assert set(registry.ops()) == {"fake_square"}


def test_a_name_no_plugin_has_is_reported(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eps = _installed(site)
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", "fake, typo")
    registry = OpRegistry(strict=False)
    with pytest.warns(PluginLoadWarning, match="'typo'.*not installed|'typo'.*no installed"):
        registry.load_entrypoints(eps)  # type: ignore[arg-type]  # EntryPoints, listed
    assert set(registry.ops()) == {"fake_square"}
    (failure,) = registry.failures
    assert failure.plugin == "typo" and "fake" in failure.reason  # the installed names
    with pytest.raises(PluginError, match="'typo'"):
        OpRegistry(strict=True).load_entrypoints(eps)  # type: ignore[arg-type]  # listed


@pytest.mark.parametrize(
    ("value", "strict"),
    [
        ("1", True),
        ("2", True),
        ("yes", True),
        ("TRUE", True),
        ("0", False),
        ("", False),
        ("off", False),
        ("false", False),
    ],
)
def test_any_value_but_a_false_one_makes_loading_strict(
    monkeypatch: pytest.MonkeyPatch, value: str, strict: bool
) -> None:
    monkeypatch.setenv("DEZERO_EXT_STRICT_PLUGINS", value)
    assert OpRegistry().strict is strict


def _dezero_ext(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(site), **env}
    for name in ("DEZERO_EXT_PLUGINS", "DEZERO_EXT_STRICT_PLUGINS"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "dezero_ext", *args],
        capture_output=True,
        text=True,
        env=full,
        check=False,
        timeout=120,
    )


def test_a_plugin_calling_sys_exit_does_not_end_the_host(tmp_path: Path) -> None:
    site = fake_dist.install(tmp_path, "fake_exit", "import sys\nsys.exit(3)\n")
    script = (
        "import numpy as np\nfrom dezero_ext import Variable, get_registry\n"
        "get_registry()\nprint(Variable(np.array([1.0, 3.0])).max().data)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "3.0"), result.stderr
    listing = _dezero_ext(site, "ops")
    assert "square" in listing.stdout
    assert "fake_exit" in listing.stderr and "SystemExit: 3" in listing.stderr


def test_the_warning_names_the_callers_line_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from dezero_ext import registry as registry_module

    monkeypatch.setattr(registry_module, "_registry", None)  # built again, by this test
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", "typo")
    monkeypatch.delenv("DEZERO_EXT_STRICT_PLUGINS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry_module.get_registry()
    (warning,) = [w for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert warning.filename == __file__  # the get_registry() call above, not registry.py
    assert isinstance(
        registry_module.get_registry().failures[0], registry_module.UnknownPluginError
    )
