"""Soak test: every registered op passes a few hundred examples per derivative order, over
several random seeds (no false failures). Slow: it runs only when selected with ``-m slow``;
``DEZERO_EXT_SOAK_EXAMPLES``, ``DEZERO_EXT_SOAK_SEEDS`` and ``DEZERO_EXT_SOAK_FIRST_SEED``
change its size and seeds."""

from __future__ import annotations

import os

import pytest

from dezero_ext import get_registry
from dezero_ext.testing import CheckOptions, check_op

EXAMPLES = int(os.environ.get("DEZERO_EXT_SOAK_EXAMPLES", "100"))
_FIRST = int(os.environ.get("DEZERO_EXT_SOAK_FIRST_SEED", "0"))
SEEDS = range(_FIRST, _FIRST + int(os.environ.get("DEZERO_EXT_SOAK_SEEDS", "3")))
OPS = sorted(get_registry().ops())


@pytest.mark.slow
@pytest.mark.parametrize("name", OPS)
def test_op_passes_many_examples_over_many_seeds(name: str) -> None:
    registry = get_registry()
    opdef = registry.get(name)
    total = 0
    for seed in SEEDS:
        result = check_op(
            opdef,
            plugin=registry.provider(name).name,
            options=CheckOptions(examples=EXAMPLES, seed=seed),
        )
        assert result.passed, f"seed {seed}:\n{result.failure or result.error}"
        total += result.examples
    print(f"{name}: {total} examples over {len(SEEDS)} seeds, orders 1-{opdef.order}")
