"""The op registry: finds op plugins through entry points and collects their ``OpDef``s.

pluggy is used for discovery only: ``OpRegistry`` is a typed facade over a private
``pluggy.PluginManager``, and applying an op never goes through a hook call.

Environment variables:

- ``DEZERO_EXT_PLUGINS``: a comma-separated list of the external plugins to load (entry-point
  or distribution names, the latter compared as pip does: ``dezero_ext_math`` is
  ``dezero-ext-math``). Unset: all installed plugins; empty: none (built-ins only). A name no
  installed plugin has is reported like a plugin that failed to load.
- ``DEZERO_EXT_STRICT_PLUGINS``: any value but empty, ``0``, ``false``, ``no`` or ``off`` makes
  a plugin that fails to load raise instead of being skipped with a warning.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Final, final

import pluggy

from dezero_ext.hookspecs import ENTRY_POINT_GROUP, PROJECT, OpSpecs, hookimpl
from dezero_ext.opdef import OpDef, OpSet

if TYPE_CHECKING:
    # importlib.metadata costs ~15 ms to import: only loading plugins needs it.
    from importlib.metadata import EntryPoint

__all__ = [
    "OpConflictError",
    "OpRegistry",
    "OpSetPlugin",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "UnknownOpError",
    "UnknownPluginError",
    "get_registry",
]

PLUGINS_ENV: Final = "DEZERO_EXT_PLUGINS"
STRICT_ENV: Final = "DEZERO_EXT_STRICT_PLUGINS"
BUILTIN_DISTRIBUTION: Final = "dezero-ext"


class PluginError(RuntimeError):
    """A plugin failed to import, its hook raised, or it returned something not an ``OpDef``."""

    def __init__(self, plugin: str, distribution: str | None, reason: str) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.reason = reason
        where = f"plugin {plugin!r}" + (f" (distribution {distribution!r})" if distribution else "")
        super().__init__(f"{where}: {reason}")


class UnknownPluginError(PluginError):
    """A name in ``DEZERO_EXT_PLUGINS`` that no installed plugin has (a misspelling, most
    often): a usage error for every command, whichever ops it selects."""


class PluginLoadWarning(UserWarning):
    """Warned when a broken plugin is skipped (non-strict loading)."""


class OpConflictError(ValueError):
    """Two plugins declare an op of the same name."""


class UnknownOpError(LookupError):
    """No registered op has the requested name."""

    def __str__(self) -> str:  # LookupError would show the message quoted, like a key
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin: its name, where it comes from and the ops it provides."""

    name: str
    distribution: str | None
    version: str | None
    ops: tuple[str, ...]
    builtin: bool


@dataclass(frozen=True, slots=True)
class _Source:
    distribution: str | None
    version: str | None
    builtin: bool


def _env_strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _env_allowed() -> frozenset[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def normalize_distribution(name: str) -> str:
    """A distribution name as pip compares it (PEP 503): ``Dezero_Ext.Math`` is
    ``dezero-ext-math``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@final
class OpSetPlugin:
    """A plugin object whose ``dezero_ext_ops`` hook returns the ops of an ``OpSet``: how the
    built-in modules register (they do not import pluggy, so that the core operators load
    without it), and a way to register a set of ops at run time."""

    def __init__(self, opset: OpSet) -> None:
        self.opset = opset

    @hookimpl
    def dezero_ext_ops(self) -> OpSet:
        return self.opset


@final
class OpRegistry:
    """Registered plugins and their ops.

    A fresh ``OpRegistry()`` is empty; ``register_builtins()`` adds the built-in ops and
    ``load_entrypoints()`` the installed plugins. ``get_registry()`` returns the process-wide
    one with both. Broken plugins are recorded in ``failures``.
    """

    def __init__(self, *, strict: bool | None = None) -> None:
        self._strict = _env_strict() if strict is None else strict
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(OpSpecs)
        self._sources: dict[str, _Source] = {}
        self._ops: Mapping[str, OpDef] | None = None
        self._providers: dict[str, str] = {}
        self._failures: list[PluginError] = []

    @property
    def strict(self) -> bool:
        """Whether a broken plugin raises (otherwise it is skipped with a warning)."""
        return self._strict

    @property
    def failures(self) -> tuple[PluginError, ...]:
        """The plugins that were skipped because they failed to load."""
        return tuple(self._failures)

    # ------------------------------------------------------------------ registration
    def register(
        self,
        plugin: ModuleType | object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
        builtin: bool = False,
    ) -> str:
        """Register a plugin object or module; return its plugin name."""
        plugin_name = name or getattr(plugin, "__name__", None) or repr(plugin)
        if self._pm.has_plugin(plugin_name):
            raise ValueError(f"a plugin named {plugin_name!r} is already registered")
        try:
            self._pm.register(plugin, name=plugin_name)
        except pluggy.PluginValidationError as exc:
            self._fail(PluginError(plugin_name, distribution, f"invalid hook: {exc}"))
            return plugin_name
        self._sources[plugin_name] = _Source(distribution, version, builtin)
        self._ops = None
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove the plugin ``name`` and its ops."""
        if self._pm.get_plugin(name) is None:
            raise ValueError(f"no plugin named {name!r} is registered")
        self._pm.unregister(name=name)
        del self._sources[name]
        self._ops = None

    def register_builtins(self) -> None:
        """Register the ops that ship with dezero_ext (through the plugin path, like any other)."""
        from dezero_ext.ops import BUILTIN_OPSETS

        version = _builtin_version()
        for name, opset in BUILTIN_OPSETS.items():
            self.register(
                OpSetPlugin(opset),
                name,
                distribution=BUILTIN_DISTRIBUTION,
                version=version,
                builtin=True,
            )

    def load_entrypoints(
        self,
        entry_points: Iterable[EntryPoint] | None = None,
        *,
        allow: Iterable[str] | None = None,
    ) -> int:
        """Import and register the plugins of the ``dezero_ext`` entry-point group.

        ``entry_points`` defaults to the installed ones; ``allow`` (default: the
        ``DEZERO_EXT_PLUGINS`` variable) restricts them by entry-point or distribution name.
        A plugin that fails to import (whatever it raises but ``KeyboardInterrupt``, a
        ``SystemExit`` too), and a name in ``allow`` that no entry point has, is recorded in
        ``failures`` with a warning, or raised when the registry is strict. Returns how many
        plugins were registered.
        """
        if entry_points is None:
            import importlib.metadata

            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        entry_points = list(entry_points)
        allowed = _env_allowed() if allow is None else frozenset(allow)
        wanted = None if allowed is None else {normalize_distribution(n): n for n in allowed}
        known: set[str] = set()
        count = 0
        for ep in entry_points:
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            keys = {normalize_distribution(ep.name)}
            if dist is not None:
                keys.add(normalize_distribution(dist))
            known |= keys
            if wanted is not None and not keys & wanted.keys():
                continue
            if self._pm.has_plugin(ep.name):
                continue
            plugin = self._load(ep, dist)
            if plugin is not None:
                self.register(plugin, ep.name, distribution=dist, version=version)
                count += 1
        for key, name in sorted((wanted or {}).items()):
            if key not in known:
                self._fail(UnknownPluginError(name, None, _not_installed(entry_points)))
        return count

    def _load(self, ep: EntryPoint, dist: str | None) -> object | None:
        """The plugin an entry point names; None, recorded in ``failures``, when it fails to
        import or has no hook."""
        try:
            plugin: object = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin never ends us
            self._fail(PluginError(ep.name, dist, f"failed to import: {_describe(exc)}"), exc)
            return None
        # pluggy 1.6's parse_hookimpl_opts raises AttributeError for a missing name (1.7
        # returns None), so look the attribute up first
        hook = getattr(plugin, "dezero_ext_ops", None)
        if hook is None or self._pm.parse_hookimpl_opts(plugin, "dezero_ext_ops") is None:
            # a typo, or an entry point installed before the hook moved (pip writes the
            # metadata at install time): unreported, it would look like a plugin with no ops
            reason = (
                f"{ep.value} has no dezero_ext_ops hook (a function marked with "
                "dezero_ext.hookimpl); if the hook moved, reinstall the distribution"
            )
            self._fail(PluginError(ep.name, dist, reason))
            return None
        return plugin

    def _fail(self, error: PluginError, cause: BaseException | None = None) -> None:
        if self._strict:
            raise error from cause
        self._failures.append(error)
        warnings.warn(
            f"dezero_ext: skipping {error}. Set {STRICT_ENV}=1 to raise instead.",
            PluginLoadWarning,
            stacklevel=_caller_level(),
        )

    # ------------------------------------------------------------------ queries
    def ops(self) -> Mapping[str, OpDef]:
        """Every registered op by name, sorted by name."""
        if self._ops is None:
            self._ops = self._collect()
        return self._ops

    def get(self, name: str) -> OpDef:
        """The op called ``name``; an unknown name raises ``UnknownOpError`` with suggestions."""
        ops = self.ops()
        try:
            return ops[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(ops), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise UnknownOpError(
                f"no op named {name!r}; {hint}`dezero-ext ops` lists the {len(ops)} registered "
                "ops (an op from an uninstalled plugin needs `pip install` of that plugin)"
            ) from None

    def provider(self, name: str) -> PluginInfo:
        """The plugin that provides the op ``name``."""
        self.get(name)
        return self._info(self._providers[name])

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin, built-ins first, then by name."""
        self.ops()
        infos = [self._info(name) for name in self._sources if self._pm.has_plugin(name)]
        return sorted(infos, key=lambda info: (not info.builtin, info.name))

    def _info(self, name: str) -> PluginInfo:
        source = self._sources[name]
        ops = tuple(sorted(op for op, provider in self._providers.items() if provider == name))
        return PluginInfo(name, source.distribution, source.version, ops, source.builtin)

    def _collect(self) -> Mapping[str, OpDef]:
        found: dict[str, OpDef] = {}
        providers: dict[str, str] = {}
        for impl in self._pm.hook.dezero_ext_ops.get_hookimpls():
            plugin = impl.plugin_name
            source = self._sources.get(plugin, _Source(None, None, False))
            if impl.wrapper or impl.hookwrapper:
                self._fail(PluginError(plugin, source.distribution, "wrappers are not supported"))
                continue
            try:
                result: object = impl.function()
                items = list(result) if isinstance(result, Iterable) else [result]
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin's hook may raise anything
                reason = f"its dezero_ext_ops hook raised {_describe(exc)}"
                self._fail(PluginError(plugin, source.distribution, reason), exc)
                continue
            bad = [item for item in items if not isinstance(item, OpDef)]
            if bad:
                reason = (
                    f"its dezero_ext_ops hook returned {type(bad[0]).__name__} {bad[0]!r:.80}; "
                    "return an iterable of dezero_ext.OpDef"
                )
                self._fail(PluginError(plugin, source.distribution, reason))
                continue
            for opdef in [item for item in items if isinstance(item, OpDef)]:
                other = providers.get(opdef.name)
                if other is not None:
                    raise OpConflictError(self._conflict_message(opdef.name, other, plugin))
                found[opdef.name] = opdef
                providers[opdef.name] = plugin
        self._providers = providers
        return MappingProxyType(dict(sorted(found.items())))

    def _conflict_message(self, op: str, first: str, second: str) -> str:
        def label(plugin: str) -> str:
            dist = self._sources.get(plugin, _Source(None, None, False)).distribution
            return f"{plugin!r}" + (f" (distribution {dist!r})" if dist else "")

        return (
            f"op {op!r} is declared by two plugins: {label(first)} and {label(second)}; "
            f"uninstall one, or leave one out with {PLUGINS_ENV}=<the plugins to load>"
        )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside dezero_ext, so that a warning names the
    user's line (``get_registry()`` in their code), not ours."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = sys._getframe(1)  # the caller of warnings.warn's caller: level 1 is _fail
    level = 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package
    ):
        frame = frame.f_back
        level += 1
    return level


def _not_installed(entry_points: list[EntryPoint]) -> str:
    names = {ep.name for ep in entry_points} | {ep.dist.name for ep in entry_points if ep.dist}
    listed = ", ".join(sorted(names)) or "none"
    return (
        f"named in {PLUGINS_ENV} but no installed plugin has that entry-point or distribution "
        f"name (installed: {listed})"
    )


def _builtin_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(BUILTIN_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


_registry: OpRegistry | None = None
_registry_lock: Final = threading.RLock()
_building = False


def get_registry() -> OpRegistry:
    """The process-wide registry: the built-in ops and every installed plugin's ops.

    Built once, on the first call; threads that call it at the same time wait for that one
    registry (plugins are imported once).
    """
    global _registry, _building
    registry = _registry
    if registry is not None:
        return registry
    with _registry_lock:
        if _registry is not None:
            return _registry
        if _building:
            raise RuntimeError(
                "get_registry() was called while the registry loads (from a plugin's import "
                "or its dezero_ext_ops hook): look ops up later, when they are applied"
            )
        _building = True
        try:
            registry = OpRegistry()
            registry.register_builtins()
            registry.load_entrypoints()
            registry.ops()
        finally:
            _building = False
        _registry = registry
        return registry
