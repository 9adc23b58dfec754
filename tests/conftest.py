"""Hypothesis profiles: ``ci`` (derandomized, no deadline; loaded when CI is set) and ``dev``
(fewer examples, for quick local runs). ``HYPOTHESIS_PROFILE`` picks one explicitly."""

from __future__ import annotations

import os

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
