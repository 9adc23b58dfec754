"""pytest plugin (entry point ``pytest11``: ``dezero_ext``): a property test per registered op.

For every op of every installed plugin it adds one test per derivative order (1 up to the
order the op declares), named ``dezero_ext_ops::<op>[order<k>]``: Hypothesis draws inputs
from the op's declaration and ``check_gradients`` compares its backward with numerical
differentiation. A plugin author needs no test file: ``pytest --dezero-ext-plugin NAME``.

The tests are added when asked for on the command line (``--dezero-ext-ops``,
``--dezero-ext-op NAME``, ``--dezero-ext-plugin NAME``), or by the ini option
``dezero_ext_ops = true`` when pytest runs on its default paths (not when given files to run).
Hypothesis settings come from the active profile (``--hypothesis-profile``; derandomized
under ``ci``); ``--hypothesis-show-statistics`` shows kink hits and dtypes per op.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

__all__ = [
    "OpChecks",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
]

_INI_ENABLE = "dezero_ext_ops"
_INI_EXAMPLES = "dezero_ext_examples"


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
    parser.addini(
        _INI_ENABLE,
        type="bool",
        default=False,
        help="add the op gradient checks when pytest runs on its default paths",
    )
    parser.addini(_INI_EXAMPLES, default="", help="Hypothesis examples per op check")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dezero_ext_op(op, plugin, order): a generated gradient check of a registered op",
    )


def _enabled(config: pytest.Config) -> bool:
    option = config.option
    if option.dezero_ext_ops or option.dezero_ext_op or option.dezero_ext_plugin:
        return True
    explicit_paths = config.args_source is pytest.Config.ArgsSource.ARGS
    return bool(config.getini(_INI_ENABLE)) and not explicit_paths


def _examples(config: pytest.Config) -> int:
    from dezero_ext.testing.runner import DEFAULT_EXAMPLES

    value: object = config.option.dezero_ext_examples or config.getini(_INI_EXAMPLES)
    try:
        examples = int(str(value)) if value else DEFAULT_EXAMPLES
    except ValueError:
        raise pytest.UsageError(f"{_INI_EXAMPLES} must be an integer, got {value!r}") from None
    if examples < 1:
        raise pytest.UsageError(f"dezero_ext examples must be >= 1, got {examples}")
    return examples


class OpChecks(pytest.Collector):
    """The generated tests: one per selected op and derivative order."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            from hypothesis import HealthCheck, given, settings
            from hypothesis import strategies as st

            from dezero_ext.testing.runner import op_property
        except ImportError as exc:
            raise pytest.UsageError(
                f"the dezero_ext op checks need Hypothesis ({exc}): "
                "pip install 'dezero-ext[testing]'"
            ) from None
        from dezero_ext.registry import UnknownOpError, get_registry

        config = self.config
        registry = get_registry()
        names: list[str] = config.option.dezero_ext_op
        plugins: list[str] = config.option.dezero_ext_plugin
        try:
            ops = [registry.get(name) for name in names] if names else []
        except UnknownOpError as exc:
            raise pytest.UsageError(str(exc)) from None
        if plugins:
            known = {p.name for p in registry.plugins()} | {
                p.distribution for p in registry.plugins() if p.distribution
            }
            for plugin in plugins:
                if plugin not in known:
                    raise pytest.UsageError(
                        f"--dezero-ext-plugin: no plugin named {plugin!r}; "
                        f"installed: {', '.join(sorted(known))}"
                    )
            ops += [
                op
                for op in registry.ops().values()
                if {registry.provider(op.name).name, registry.provider(op.name).distribution}
                & set(plugins)
                and op not in ops
            ]
        if not names and not plugins:
            ops = list(registry.ops().values())
        examples = _examples(config)
        for opdef in ops:
            plugin_name = registry.provider(opdef.name).name
            for order in range(1, opdef.order + 1):
                body = op_property(opdef, (order,), plugin=plugin_name)
                body.__name__ = body.__qualname__ = f"check_{opdef.name}_order{order}"
                test = settings(
                    max_examples=examples,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                    report_multiple_bugs=False,
                )(given(data=st.data())(body))
                item = pytest.Function.from_parent(
                    self, name=f"{opdef.name}[order{order}]", callobj=test
                )
                item.add_marker(
                    pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin_name, order=order)
                )
                item.extra_keyword_matches.update({opdef.name, plugin_name})
                yield item


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the generated op checks (before ``-k``/``-m`` deselect among them)."""
    if not _enabled(config):
        return
    checks = OpChecks.from_parent(session, name="dezero_ext_ops", nodeid="dezero_ext_ops")
    items.extend(checks.collect())
