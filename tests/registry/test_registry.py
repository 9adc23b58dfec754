"""The op registry: discovery through entry points, the failure policy, conflicts, lookup."""

from __future__ import annotations

import importlib.metadata
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pluggy
import pytest

from dezero_ext import (
    Domain,
    Function,
    OpConflictError,
    OpDef,
    OpRegistry,
    PluginError,
    UnknownOpError,
    Variable,
    get_registry,
    hookimpl,
)
from dezero_ext import registry as registry_module
from dezero_ext.ops.basic import Exp, Square
from dezero_ext.registry import PluginLoadWarning

PLUGIN_SOURCE = """
from dezero_ext import OpDef, hookimpl
from dezero_ext.ops.basic import Square

@hookimpl
def dezero_ext_ops():
    return [OpDef("{op}", Square)]
"""


def make_distribution(
    root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """An installed distribution, as pip would leave it: a .dist-info and its modules."""
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dezero_ext]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def entry_points_of(*dists: str) -> list[importlib.metadata.EntryPoint]:
    return [
        ep
        for ep in importlib.metadata.entry_points(group="dezero_ext")
        if ep.dist is not None and ep.dist.name in dists
    ]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DEZERO_EXT_PLUGINS", raising=False)
    monkeypatch.delenv("DEZERO_EXT_STRICT_PLUGINS", raising=False)
    return tmp_path


# ---------------------------------------------------------------- the installed environment
def test_builtins_and_the_bundled_math_plugin_are_registered() -> None:
    registry = get_registry()
    ops = registry.ops()
    for name in ("square", "exp", "add", "sub", "mul", "div", "neg", "pow", "matmul", "get_item"):
        assert registry.provider(name).builtin, name
        assert registry.provider(name).distribution == "dezero-ext"
    math = registry.provider("sin")
    assert (math.name, math.distribution, math.builtin) == ("math", "dezero-ext-math", False)
    assert math.version == importlib.metadata.version("dezero-ext-math")
    assert {"sin", "cos", "tanh"} <= set(math.ops)
    assert list(ops) == sorted(ops)
    assert registry.failures == ()


def test_plugins_lists_builtins_first() -> None:
    infos = get_registry().plugins()
    flags = [info.builtin for info in infos]
    assert flags == sorted(flags, reverse=True)
    assert any(info.name == "math" for info in infos)


def test_an_opdef_applies_its_op_without_any_hook_call(monkeypatch: pytest.MonkeyPatch) -> None:
    opdef = get_registry().get("square")
    calls: list[str] = []
    original = pluggy.HookCaller.__call__

    def counting(self: pluggy.HookCaller, *args: object, **kwargs: object) -> object:
        if self.name.startswith("dezero_ext"):
            calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pluggy.HookCaller, "__call__", counting)
    y = opdef(Variable(np.array(3.0)))
    assert isinstance(y, Variable) and y.data == 9.0
    total = get_registry().get("sum")(Variable(np.ones((2, 3))), axis=0)
    assert isinstance(total, Variable) and total.shape == (3,)
    assert calls == [], "pluggy must not be on the call path"


def test_unknown_op_names_suggest_close_matches() -> None:
    with pytest.raises(UnknownOpError, match=r"no op named 'sqaure'; did you mean 'square'"):
        get_registry().get("sqaure")


# ---------------------------------------------------------------- discovery and failure policy
def test_a_plugin_is_found_through_its_entry_point(site: Path) -> None:
    make_distribution(
        site,
        "good-plugin",
        {"good": "good_plugin"},
        {"good_plugin": PLUGIN_SOURCE.format(op="good_square")},
    )
    registry = OpRegistry(strict=True)
    assert registry.load_entrypoints(entry_points_of("good-plugin")) == 1
    info = registry.provider("good_square")
    assert (info.name, info.distribution, info.version) == ("good", "good-plugin", "1.2.3")


def test_a_broken_plugin_is_reported_and_the_others_still_load(site: Path) -> None:
    make_distribution(
        site,
        "broken-plugin",
        {"broken": "broken_plugin"},
        {"broken_plugin": "import not_a_module_anywhere\n"},
    )
    make_distribution(
        site,
        "good-plugin",
        {"good": "good_plugin"},
        {"good_plugin": PLUGIN_SOURCE.format(op="good_square")},
    )
    registry = OpRegistry(strict=False)
    registry.register_builtins()
    with pytest.warns(PluginLoadWarning, match="broken-plugin.*ModuleNotFoundError"):
        registry.load_entrypoints(entry_points_of("broken-plugin", "good-plugin"))
    assert "good_square" in registry.ops() and "square" in registry.ops()
    (failure,) = registry.failures
    assert (failure.plugin, failure.distribution) == ("broken", "broken-plugin")
    assert "not_a_module_anywhere" in failure.reason


def test_strict_loading_raises_on_a_broken_plugin(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_distribution(
        site,
        "broken-plugin",
        {"broken": "broken_plugin"},
        {"broken_plugin": "raise RuntimeError('cannot start')\n"},
    )
    with pytest.raises(PluginError, match="'broken' .*broken-plugin.*cannot start"):
        OpRegistry(strict=True).load_entrypoints(entry_points_of("broken-plugin"))
    monkeypatch.setenv("DEZERO_EXT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        OpRegistry().load_entrypoints(entry_points_of("broken-plugin"))


def test_the_environment_variable_selects_the_plugins_to_load(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in (1, 2):
        make_distribution(
            site,
            f"plugin-{n}",
            {f"p{n}": f"plugin_{n}"},
            {f"plugin_{n}": PLUGIN_SOURCE.format(op=f"op_{n}")},
        )
    eps = entry_points_of("plugin-1", "plugin-2")

    def loaded() -> set[str]:
        registry = OpRegistry(strict=True)
        registry.load_entrypoints(eps)
        return set(registry.ops())

    assert loaded() == {"op_1", "op_2"}  # unset: all
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", "")
    assert loaded() == set()  # empty: none
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", "p2")
    assert loaded() == {"op_2"}  # by entry-point name
    monkeypatch.setenv("DEZERO_EXT_PLUGINS", "plugin_1")
    assert loaded() == {"op_1"}  # by distribution name


# ---------------------------------------------------------------- plugins registered directly
class HookRaises:
    @hookimpl
    def dezero_ext_ops(self) -> list[OpDef]:
        raise KeyError("missing table")


class ReturnsJunk:
    @hookimpl
    def dezero_ext_ops(self) -> list[object]:
        return [OpDef("fine", Square), "not an opdef"]


class ProvidesSquare:
    @hookimpl
    def dezero_ext_ops(self) -> list[OpDef]:
        return [OpDef("square", Square)]


def test_a_hook_that_raises_is_skipped_with_a_warning_naming_the_plugin() -> None:
    registry = OpRegistry(strict=False)
    registry.register_builtins()
    registry.register(HookRaises(), "raiser", distribution="raiser-dist")
    with pytest.warns(
        PluginLoadWarning, match="'raiser' \\(distribution 'raiser-dist'\\).*KeyError"
    ):
        ops = registry.ops()
    assert "square" in ops
    strict = OpRegistry(strict=True)
    strict.register(HookRaises(), "raiser")
    with pytest.raises(PluginError, match="raiser"):
        strict.ops()


def test_a_hook_returning_junk_is_an_error_naming_the_plugin() -> None:
    registry = OpRegistry(strict=True)
    registry.register(ReturnsJunk(), "junk")
    with pytest.raises(PluginError, match="'junk'.*returned str 'not an opdef'.*OpDef"):
        registry.ops()


def test_two_plugins_declaring_one_op_is_an_error_naming_both() -> None:
    registry = OpRegistry(strict=True)
    registry.register_builtins()
    registry.register(ProvidesSquare(), "copycat", distribution="copycat-dist")
    with pytest.raises(OpConflictError) as info:
        registry.ops()
    message = str(info.value)
    assert "'square'" in message and "'dezero_ext.ops.basic'" in message
    assert "'copycat' (distribution 'copycat-dist')" in message
    assert "DEZERO_EXT_PLUGINS" in message


def test_unregister_removes_a_plugins_ops() -> None:
    registry = OpRegistry(strict=True)
    registry.register(ProvidesSquare(), "mine")
    assert "square" in registry.ops()
    registry.unregister("mine")
    assert "square" not in registry.ops()
    with pytest.raises(ValueError, match="no plugin named 'mine'"):
        registry.unregister("mine")


# ---------------------------------------------------------------- OpDef and Domain validation
@pytest.mark.parametrize("name", ["Square", "1op", "my-op", "", "op name"])
def test_opdef_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="invalid op name"):
        OpDef(name, Square)


def test_opdef_validates_its_fields() -> None:
    with pytest.raises(TypeError, match="must be a Function subclass"):
        OpDef("f", np.exp)  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(ValueError, match="2 domains for 3 inputs"):
        OpDef("f", Square, arity=3, domains=(Domain(), Domain()))
    with pytest.raises(ValueError, match="order must be"):
        OpDef("f", Square, order=0)
    assert OpDef("f", Exp, arity=2, domains=(Domain(0, 1),)).domains == (Domain(0, 1),) * 2
    assert OpDef("f", Exp).domains == (Domain(),)


def test_domain_validation_and_membership() -> None:
    with pytest.raises(ValueError, match="empty interval"):
        Domain(1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Domain(0.0, float("inf"))
    d = Domain(-1.0, 1.0, kinks=(0.0,), margin=0.1)
    assert d.contains(0.5) and not d.contains(0.05) and not d.contains(1.5)
    assert Domain(-1.0, 1.0, positive=True, margin=0.2).lower == 0.2


def test_opdef_call_checks_the_number_of_inputs() -> None:
    class Twice(Function):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return 2 * x

        def backward(self, gy: Variable) -> Variable:
            return 2 * gy

    with pytest.raises(TypeError, match="twice: takes 1 inputs, got 2"):
        OpDef("twice", Twice)(Variable(np.ones(1)), Variable(np.ones(1)))


def test_threads_calling_get_registry_at_once_build_one_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_module, "_registry", None)
    builds: list[OpRegistry] = []
    real = OpRegistry.register_builtins

    def slow_register_builtins(self: OpRegistry) -> None:
        builds.append(self)
        time.sleep(0.05)  # widen the window in which a second thread could start a build
        real(self)

    monkeypatch.setattr(OpRegistry, "register_builtins", slow_register_builtins)
    start = threading.Barrier(32)
    found: list[OpRegistry] = []

    def call() -> None:
        start.wait()
        found.append(get_registry())

    threads = [threading.Thread(target=call) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert len(found) == 32 and all(r is builds[0] for r in found)
