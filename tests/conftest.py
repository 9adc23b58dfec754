"""Hypothesis profiles: ``ci`` (derandomized, no deadline; loaded when CI is set) and ``dev``
(fewer examples, for quick local runs). ``HYPOTHESIS_PROFILE`` picks one explicitly.

Tests marked ``slow`` (soak runs) are skipped unless selected: ``pytest -m slow``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``slow`` tests unless the ``-m`` expression selects them."""
    markexpr = str(config.getoption("markexpr") or "")
    if "slow" in markexpr and "not slow" not in markexpr:
        return
    skip = pytest.mark.skip(reason="slow (a soak run): select it with -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)
