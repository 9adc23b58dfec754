"""The bundled plugins' tests (plugins/*/tests) share the main suite's setup: its Hypothesis
profiles (``ci``, ``dev``, ``HYPOTHESIS_PROFILE``) and the ``slow`` marker (tests/conftest.py).

One conftest for both plugins, here rather than in each plugin's tests folder: those folders are
not packages (a package named ``tests`` would clash with the main suite's), so two conftest.py
there would both be the top-level module ``conftest`` to mypy.
"""

from __future__ import annotations

from tests.conftest import hang_bound_not_speed_bound, pytest_runtest_setup

__all__ = ["hang_bound_not_speed_bound", "pytest_runtest_setup"]
