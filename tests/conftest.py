"""Hypothesis profiles: ``ci`` (derandomized, no deadline; loaded when CI is set) and ``dev``
(fewer examples, for quick local runs). ``HYPOTHESIS_PROFILE`` picks one explicitly.

Tests marked ``slow`` (soak runs) are skipped unless selected: ``pytest -m slow``.

The bundled plugins' tests (plugins/*/tests) get the same from plugins/conftest.py, which imports
this module. tests/README.md maps the folders.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from dezero_ext.testing import options as check_options

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Neither profile has a time limit: no deadline, and no too_slow health check (which fails a
# test whose examples are slow to draw, as on a loaded machine)
settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


# A check's default time limit (DEFAULT_TIMEOUT, 60 s per op) is a bound against a hang for a
# user's run; in this suite it would make a test depend on the machine's speed (a JAX matmul
# check at orders 1-2 ran past 60 s at load 14). Tests of the time limit pass their own.
SUITE_TIMEOUT = 600.0


@pytest.fixture(autouse=True)
def hang_bound_not_speed_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raise the default time limit of the checks a test runs to ``SUITE_TIMEOUT``."""
    monkeypatch.setattr(check_options, "DEFAULT_TIMEOUT", SUITE_TIMEOUT)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``slow`` test unless the ``-m`` expression selects it.

    A setup hook, not a collection hook: pytest calls it with the conftests of the item's own
    folder only, so plugins/conftest.py can import it without each slow test skipped twice.
    """
    if item.get_closest_marker("slow") is None:
        return
    markexpr = str(item.config.getoption("markexpr") or "")
    if "slow" in markexpr and "not slow" not in markexpr:
        return
    pytest.skip("slow (a soak run): select it with -m slow")
