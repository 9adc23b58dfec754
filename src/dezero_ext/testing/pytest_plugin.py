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
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dezero_ext.testing.options import CheckOptions

__all__ = [
    "OpCheck",
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


def _options(config: pytest.Config) -> CheckOptions:
    from dezero_ext.testing.options import DEFAULT_EXAMPLES, CheckOptions

    value: object = config.option.dezero_ext_examples or config.getini(_INI_EXAMPLES)
    try:
        examples = int(str(value)) if value else DEFAULT_EXAMPLES
    except ValueError:
        raise pytest.UsageError(f"{_INI_EXAMPLES} must be an integer, got {value!r}") from None
    if examples < 1:
        raise pytest.UsageError(f"dezero_ext examples must be >= 1, got {examples}")
    option = config.option
    return CheckOptions(
        ops=tuple(option.dezero_ext_op), plugins=tuple(option.dezero_ext_plugin), examples=examples
    )


class OpCheck(pytest.Function):
    """One generated test: an op's property test at one derivative order."""

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), None, self.nodeid


class OpChecks(pytest.Collector):
    """The generated tests: one per selected op and derivative order."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            from hypothesis import given
            from hypothesis import strategies as st

            from dezero_ext.testing.runner import op_property, op_settings
        except ImportError as exc:
            raise pytest.UsageError(
                f"the dezero_ext op checks need Hypothesis ({exc}): "
                "pip install 'dezero-ext[testing]'"
            ) from None
        from dezero_ext.registry import UnknownOpError, get_registry

        registry = get_registry()
        options = _options(self.config)
        try:
            ops = options.select(registry)
        except UnknownOpError as exc:
            raise pytest.UsageError(str(exc)) from None
        settings = op_settings(options, from_profile=True)
        for opdef in ops:
            plugin = registry.provider(opdef.name).name
            for order in options.orders(opdef):
                body = op_property(opdef, (order,), plugin=plugin)
                body.__name__ = body.__qualname__ = f"check_{opdef.name}_order{order}"
                test = settings(given(data=st.data())(body))
                item = OpCheck.from_parent(self, name=f"{opdef.name}[order{order}]", callobj=test)
                item.add_marker(
                    pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin, order=order)
                )
                item.extra_keyword_matches.update({opdef.name, plugin})
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
