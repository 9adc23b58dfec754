"""pytest plugin (entry point ``pytest11``: ``dezero_ext_layers``): gradient checks of your
own layers, declared once in a ``conftest.py``::

    from dezero_ext import Domain
    from dezero_ext.testing import LayerCase

    def pytest_dezero_ext_layers(config):
        return [LayerCase("dense", lambda: Dense(4, in_size=3), Domain(-2, 2), (5, 3))]

Each case gets one test per derivative order (1 to ``case.options.max_order``, 2 by default),
``dezero_ext_layers::<name>[order<k>]``, running ``check_layer`` on a fresh layer; a failure
shows the layer check's report, and an order the layer's registered ops do not declare is
skipped. The tests are added when pytest runs on its default paths, or with
``--dezero-ext-layers`` when it is given files to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dezero_ext.testing.layers import LayerCase

__all__ = [
    "LayerCheck",
    "LayerChecks",
    "pytest_addhooks",
    "pytest_addoption",
    "pytest_collection_modifyitems",
]


class _HookSpecs:
    @pytest.hookspec
    def pytest_dezero_ext_layers(self, config: pytest.Config) -> Iterable[object]:
        """Return ``LayerCase``s: the layers whose gradients the generated tests check."""
        return ()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_HookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dezero_ext_layers", "dezero_ext: gradient checks of your layers")
    group.addoption(
        "--dezero-ext-layers",
        action="store_true",
        default=False,
        help="add the layer checks of pytest_dezero_ext_layers even when files are given",
    )


class LayerCheck(pytest.Function):
    """One generated test: a layer's check at one derivative order."""

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), None, self.nodeid


def _layer_test(case: LayerCase, order: int) -> Callable[[], None]:
    from dezero_ext.testing.layers import LayerCheckError, run_layer_check

    def test() -> None:
        __tracebackhide__ = True
        try:
            options = replace(case.options, orders=(order,))
            result = run_layer_check(case.make(), case.inputs, options, cap=True)
        except LayerCheckError as exc:  # the report, without the checker's frames
            pytest.fail(str(exc), pytrace=False)
        if not result.orders:
            ops = ", ".join(result.capped_by)
            pytest.skip(f"order {order}: the layer's ops ({ops}) declare less")

    test.__name__ = f"check_{case.name}_order{order}"
    return test


class LayerChecks(pytest.Collector):
    """The generated tests: one per declared layer and derivative order."""

    def collect(self) -> Iterator[pytest.Item]:
        declared = [
            case
            for result in self.config.hook.pytest_dezero_ext_layers(config=self.config)
            for case in result
        ]
        if not declared:  # nothing to check: Hypothesis need not even be installed
            return
        from dezero_ext.testing.layers import LayerCase, layer_orders

        for case in declared:
            if not isinstance(case, LayerCase):
                raise pytest.UsageError(
                    f"pytest_dezero_ext_layers returned {case!r}; return LayerCase objects"
                )
            for order in layer_orders(case.options):
                yield LayerCheck.from_parent(
                    self, name=f"{case.name}[order{order}]", callobj=_layer_test(case, order)
                )


def _enabled(config: pytest.Config) -> bool:
    if config.option.dezero_ext_layers:
        return True
    return config.args_source is not pytest.Config.ArgsSource.ARGS


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append the generated layer checks (before ``-k``/``-m`` deselect among them)."""
    if not _enabled(config):
        return
    checks = LayerChecks.from_parent(session, name="dezero_ext_layers", nodeid="dezero_ext_layers")
    items.extend(checks.collect())
