"""pytest plugin (entry point ``pytest11``: ``dezero_ext``): a property test per registered op.

For each selected op it adds one test per derivative order (1 up to the order the op
declares), named ``dezero_ext_ops::<op>[order<k>]``: Hypothesis draws inputs from the op's
declaration and ``check_gradients`` compares its backward with numerical differentiation.

Which ops, first match wins:

1. the command line: ``--dezero-ext-op NAME``, ``--dezero-ext-plugin NAME`` (repeatable), or
   ``--dezero-ext-ops`` for every installed op;
2. when pytest runs on its default paths (not on files named on the command line): the ini
   option ``dezero_ext_plugins`` (plugin or distribution names), else ``dezero_ext_ops =
   true`` (every installed op; ``false`` turns the checks off);
3. a plugin's own project: when the rootdir's ``pyproject.toml`` declares ``dezero_ext``
   entry points, plain ``pytest`` checks the ops of those plugins (the project must be
   installed, ``pip install -e .``), and nothing else.

Each generated test has a time limit (``--dezero-ext-timeout``, ini ``dezero_ext_timeout``;
0 for none): running out fails it with the phase it was in. Hypothesis settings come from
the active profile (``--hypothesis-profile``; derandomized under ``ci``);
``--hypothesis-show-statistics`` shows kink hits and dtypes per op. The tests are the same
in every process, so they run under pytest-xdist (``-n 2``). ``--dezero-ext-scheduler
ADDRESS`` checks each op on a Dask cluster instead, one test per op (``cluster_items.py``).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dezero_ext.opdef import OpDef
    from dezero_ext.registry import OpRegistry
    from dezero_ext.testing.options import CheckOptions

__all__ = [
    "OpCheck",
    "OpChecks",
    "plugin_project",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
]

_INI_ENABLE = "dezero_ext_ops"
_INI_PLUGINS = "dezero_ext_plugins"
_INI_EXAMPLES = "dezero_ext_examples"
_INI_TIMEOUT = "dezero_ext_timeout"
_INI_BACKEND = "dezero_ext_backend"
_INSTALL_HYPOTHESIS = (
    "pip install 'hypothesis>=6.100' (from a checkout of dezero-ext: pip install -e '.[testing]')"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dezero_ext", "dezero_ext: gradient checks of the registered ops")
    group.addoption(
        "--dezero-ext-ops",
        action="store_true",
        default=False,
        help="add a gradient check per registered op and derivative order",
    )
    group.addoption(
        "--dezero-ext-op",
        action="append",
        default=[],
        metavar="NAME",
        help="add the gradient checks of this op (repeatable)",
    )
    group.addoption(
        "--dezero-ext-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="add the gradient checks of this plugin's ops (plugin or distribution name)",
    )
    group.addoption(
        "--dezero-ext-examples",
        type=int,
        default=None,
        metavar="N",
        help="Hypothesis examples per op check (default: the ini option, else 25)",
    )
    group.addoption(
        "--dezero-ext-stress",
        action="store_true",
        default=False,
        help="instead of the ordinary checks: one stress check per op (large inputs, random "
        "projections only: dezero-ext check --stress)",
    )
    group.addoption(
        "--dezero-ext-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit of each op check, 0 for none (default: the ini option, else 60 s at "
        "25 examples, in proportion to the examples)",
    )
    group.addoption(
        "--dezero-ext-backend",
        default=None,
        metavar="NAME",
        help="check each selected op on this array library (array-api-strict, dask, cupy) as "
        "`dezero-ext check --backend` does; an op that does not declare it is skipped as n/a "
        "(default: the ini option, else numpy)",
    )
    group.addoption(
        "--dezero-ext-scheduler",
        default=None,
        metavar="ADDRESS",
        help="check each selected op on the Dask cluster of this scheduler (tcp://host:8786) "
        "as `dezero-ext check --scheduler` does: one test per op, <op>[cluster]",
    )
    parser.addini(
        _INI_ENABLE,
        default="",
        help="true: add the checks of every installed op when pytest runs on its default "
        "paths; false: none (default: a plugin project's own ops)",
    )
    parser.addini(
        _INI_PLUGINS,
        type="linelist",
        default=[],
        help="the plugins (plugin or distribution names, separated by spaces, commas or "
        "lines) whose ops are checked when pytest runs on its default paths",
    )
    parser.addini(_INI_EXAMPLES, default="", help="Hypothesis examples per op check")
    parser.addini(_INI_TIMEOUT, default="", help="time limit of each op check in seconds")
    parser.addini(_INI_BACKEND, default="", help="the array library the op checks run on")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dezero_ext_op(op, plugin, order): a generated gradient check of a registered op",
    )


def _flag(config: pytest.Config) -> bool | None:
    value = str(config.getini(_INI_ENABLE)).strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise pytest.UsageError(f"{_INI_ENABLE} must be true or false, got {value!r}")


def plugin_project(root: Path) -> tuple[str, tuple[str, ...]] | None:
    """``(distribution, entry-point names)`` when ``root/pyproject.toml`` declares
    ``dezero_ext`` entry points: the project is an op plugin."""
    path = root / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    entry_points = project.get("entry-points", {}).get("dezero_ext", {})
    if not isinstance(entry_points, dict) or not entry_points:
        return None
    return str(project.get("name", "")), tuple(str(name) for name in entry_points)


def _int(config: pytest.Config, option: object, ini: str, default: int) -> int:
    value: object = option if option is not None else config.getini(ini)
    try:
        number = int(str(value)) if value not in (None, "") else default
    except ValueError:
        raise pytest.UsageError(f"{ini} must be an integer, got {value!r}") from None
    if number < 1:
        raise pytest.UsageError(f"dezero_ext examples must be >= 1, got {number}")
    return number


def _timeout(config: pytest.Config) -> float | None:
    value: object = config.option.dezero_ext_timeout
    if value is None:
        value = config.getini(_INI_TIMEOUT)
    if value in (None, ""):
        return None
    try:
        seconds = float(str(value))
    except ValueError:
        raise pytest.UsageError(f"{_INI_TIMEOUT} must be seconds, got {value!r}") from None
    if not seconds >= 0:
        raise pytest.UsageError(f"{_INI_TIMEOUT} must be >= 0 (0: no limit), got {value!r}")
    return seconds


def _options(config: pytest.Config) -> CheckOptions | None:
    """What to check, or ``None`` for nothing (module docstring)."""
    return _selection(config)[0]


def _selection(config: pytest.Config) -> tuple[CheckOptions | None, bool]:
    """What to check, and whether it is a plugin project's own plugins found by looking."""

    selected, own = _chosen(config)
    if selected is not None and config.option.dezero_ext_stress:
        selected = replace(selected, stress=True)
    backend = config.option.dezero_ext_backend or str(config.getini(_INI_BACKEND)).strip()
    if selected is not None and backend and backend != "numpy":
        selected = _on_backend(selected, backend)
    return selected, own


def _on_backend(options: CheckOptions, backend: str) -> CheckOptions:
    """``options`` on ``backend``, loaded; a ``UsageError`` names what to install."""
    from dezero_ext.testing.backends import BackendUnavailableError, get_backend

    try:
        chosen = replace(options, backend=backend)
        get_backend(backend)
    except (ValueError, BackendUnavailableError) as exc:
        raise pytest.UsageError(f"dezero_ext: {exc}") from None
    return chosen


def _chosen(config: pytest.Config) -> tuple[CheckOptions | None, bool]:
    from dezero_ext.testing.options import DEFAULT_EXAMPLES, CheckOptions

    option = config.option
    examples = _int(config, option.dezero_ext_examples, _INI_EXAMPLES, DEFAULT_EXAMPLES)
    timeout = _timeout(config)
    if option.dezero_ext_ops or option.dezero_ext_op or option.dezero_ext_plugin:
        ops, plugins = tuple(option.dezero_ext_op), tuple(option.dezero_ext_plugin)
        return CheckOptions(ops=ops, plugins=plugins, examples=examples, timeout=timeout), False
    if config.args_source is pytest.Config.ArgsSource.ARGS:  # files named: run just those
        return None, False
    flag = _flag(config)
    plugins = _ini_plugins(config)
    if flag is False:
        return None, False
    if plugins:
        return CheckOptions(plugins=plugins, examples=examples, timeout=timeout), False
    if flag:
        return CheckOptions(examples=examples, timeout=timeout), False
    project = plugin_project(config.rootpath)
    if project is None:
        return None, False
    return CheckOptions(plugins=project[1], examples=examples, timeout=timeout), True


def _ini_plugins(config: pytest.Config) -> tuple[str, ...]:
    lines: list[str] = config.getini(_INI_PLUGINS)
    return tuple(name for line in lines for name in line.replace(",", " ").split())


def _check_project(config: pytest.Config, registry: OpRegistry) -> None:
    """In a plugin project, say how to install it when its plugins are not installed."""
    from dezero_ext.registry import normalize_distribution

    project = plugin_project(config.rootpath)
    if project is None:
        return
    name, entry_points = project
    installed = {p.name: p for p in registry.plugins()}
    failed = {f.plugin for f in registry.failures}
    for entry_point in entry_points:
        info = installed.get(entry_point)
        if entry_point in failed:
            continue  # the selection reports the failure itself
        if info is None or normalize_distribution(info.distribution or "") != (
            normalize_distribution(name)
        ):
            raise pytest.UsageError(
                f"dezero_ext: this project ({config.rootpath / 'pyproject.toml'}) declares the "
                f"op plugin {entry_point!r} of {name!r}, but the installed plugin of that name "
                f"{'is from ' + repr(info.distribution) if info else 'does not exist'}; "
                "install the project (pip install -e .) to check its ops, or set "
                f"{_INI_ENABLE} = false"
            )


class OpCheck(pytest.Function):
    """One generated test: an op's property test at one derivative order, with a time limit."""

    time_limit: float | None = None

    def runtest(self) -> None:
        from dezero_ext.testing.runner import timeout_report
        from dezero_ext.testing.storage import hypothesis_home
        from dezero_ext.testing.timeout import CheckTimeout, time_limit

        try:
            with time_limit(self.time_limit), hypothesis_home():
                super().runtest()
        except CheckTimeout as exc:
            marker = self.get_closest_marker("dezero_ext_op")
            op = str(marker.kwargs["op"]) if marker is not None else self.name
            pytest.fail(timeout_report(exc, op).replace("--timeout", "--dezero-ext-timeout"), False)

    def repr_failure(  # type: ignore[override]  # pytest's signature has an extra default
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | object:
        """A gradient check failure shows its report as it is (pasteable, no traceback)."""
        from dezero_ext.testing.claims import ClaimError
        from dezero_ext.testing.report import GradientCheckError

        if isinstance(excinfo.value, GradientCheckError | ClaimError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), None, self.nodeid


class _NotApplicable(OpCheck):
    """An op that does not declare the backend checked on: skipped, with the reason."""

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), 0, self.nodeid  # a skip mark's report needs a line


class _LoadFailure(pytest.Item):
    """A plugin that failed to load, as a failing test: its ops are not checked."""

    def __init__(self, *, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # pytest's from_parent keywords
        self.reason = reason

    def runtest(self) -> None:
        pytest.fail(f"{self.reason}; its ops are not checked", pytrace=False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), None, self.nodeid


class OpChecks(pytest.Collector):
    """The generated tests: one per selected op and derivative order."""

    def collect(self) -> Iterator[pytest.Item]:
        options, own_project = _selection(self.config)
        if options is None:
            return
        try:
            from hypothesis import given
            from hypothesis import strategies as st

            from dezero_ext.testing.runner import op_property, op_settings
        except ImportError as exc:
            raise pytest.UsageError(
                f"the dezero_ext op checks need Hypothesis ({exc}): {_INSTALL_HYPOTHESIS}"
            ) from None
        from dezero_ext.registry import OpConflictError, PluginError, UnknownOpError, get_registry

        try:
            registry = get_registry()
            if own_project:
                _check_project(self.config, registry)
            ops = options.select(registry)
        except (UnknownOpError, PluginError, OpConflictError) as exc:
            raise pytest.UsageError(f"dezero_ext: {exc}") from None
        if options.whole_registry:
            for failure in registry.failures:
                yield _LoadFailure.from_parent(
                    self, name=f"{failure.plugin}[load]", reason=str(failure)
                )
        if self.config.option.dezero_ext_scheduler:  # one test per op, checked on a cluster
            from dezero_ext.testing.cluster_items import cluster_items

            ops_plugins = [(op, registry.provider(op.name).name) for op in ops]
            yield from cluster_items(
                self, self.config.option.dezero_ext_scheduler, ops_plugins, options
            )
            return
        settings = op_settings(options, from_profile=True)
        for opdef in ops:
            plugin = registry.provider(opdef.name).name
            skip = _not_applicable(opdef, options)
            if skip:
                yield _skipped_item(self, opdef, plugin, skip)
                continue
            if options.stress:
                yield _stress_item(self, opdef, plugin, options)
                continue
            for order in options.orders_for(opdef):
                body = op_property(opdef, replace(options, orders=(order,)), plugin=plugin)
                body.__name__ = body.__qualname__ = f"check_{opdef.name}_order{order}"
                test = settings(given(data=st.data())(body))
                if order == min(options.orders_for(opdef)):
                    test = _with_claims(test, opdef, options)
                item = OpCheck.from_parent(self, name=f"{opdef.name}[order{order}]", callobj=test)
                item.time_limit = options.time_limit
                item.add_marker(
                    pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin, order=order)
                )
                item.extra_keyword_matches.update({opdef.name, plugin})
                yield item


def _not_applicable(opdef: OpDef, options: CheckOptions) -> str:
    if options.backend == "numpy":
        return ""
    from dezero_ext.testing.backends import not_applicable

    return not_applicable(opdef, options.backend)


def _skipped_item(parent: pytest.Collector, opdef: OpDef, plugin: str, reason: str) -> pytest.Item:
    """An op the backend does not apply to, as one skipped test ``<op>[n/a]`` with the reason."""

    def run() -> None:
        pytest.skip(reason)

    run.__name__ = run.__qualname__ = f"not_applicable_{opdef.name}"
    item = _NotApplicable.from_parent(parent, name=f"{opdef.name}[n/a]", callobj=run)
    item.add_marker(pytest.mark.skip(reason=reason))
    item.add_marker(pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin, order=0))
    item.extra_keyword_matches.update({opdef.name, plugin})
    return item


def _stress_item(
    parent: pytest.Collector, opdef: OpDef, plugin: str, options: CheckOptions
) -> pytest.Item:
    """The op's stress check (``stress.py``) as one test."""
    from dezero_ext.testing.op_targets import OpTarget
    from dezero_ext.testing.stress import check_stress

    def run() -> None:
        __tracebackhide__ = True
        check_stress(OpTarget(opdef), options)

    run.__name__ = run.__qualname__ = f"stress_{opdef.name}"
    item = OpCheck.from_parent(parent, name=f"{opdef.name}[stress]", callobj=run)
    item.time_limit = options.time_limit
    item.add_marker(pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin, order=0))
    item.extra_keyword_matches.update({opdef.name, plugin})
    return item


def _with_claims(
    test: Callable[[], None], opdef: OpDef, options: CheckOptions
) -> Callable[[], None]:
    """``test``, then the op's extreme shapes at every order (``shapes.py``), its error inputs
    and ``outside`` claims and its forward-mode rule (once per op, in its lowest order's test:
    ``claims.py``, ``jvpcheck.py``)."""
    from dezero_ext.testing.backends import on_backend
    from dezero_ext.testing.claims import check_claims
    from dezero_ext.testing.op_targets import OpTarget
    from dezero_ext.testing.runner import jvp_test
    from dezero_ext.testing.shapes import check_extremes

    @functools.wraps(test)  # keeps Hypothesis's marks: its statistics still find the test
    def run() -> None:
        __tracebackhide__ = True
        test()
        target = OpTarget(opdef)
        if options.backend != "numpy":  # the claims and the JVP rule are NumPy's
            backend = on_backend(target, options.backend)
            check_extremes(backend, replace(options, orders=options.orders_for(backend.spec)))
            return
        check_extremes(target, replace(options, orders=options.orders_for(opdef)))
        check_claims(target)
        jvps = jvp_test(opdef, options, from_profile=True)
        if jvps is not None:
            jvps()

    return run


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the generated op checks (before ``-k``/``-m`` deselect among them)."""
    if _options(config) is None:
        return
    try:  # Hypothesis's own pytest plugin reads the tests' modules next, caching constants
        from dezero_ext.testing.storage import use_cache_home

        use_cache_home()  # in ~/.cache/dezero-ext, not .hypothesis/ in the project
    except ImportError:  # no Hypothesis: collect() says how to install it
        pass
    checks = OpChecks.from_parent(session, name="dezero_ext_ops", nodeid="dezero_ext_ops")
    items.extend(checks.collect())
