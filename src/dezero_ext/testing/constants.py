"""The constant-input path: an op checked with some of its inputs passed as constants.

A user passes arrays and numbers to an op beside Variables; they are constants
(``requires_grad`` off), ``backward`` may return None for them and skip their work
(``Function.needs_input_grad``). The checker draws Variables only, so this path needs its own
check: each example is checked once more with one subset of its inputs held constant (a
nonempty, proper subset, chosen by the example's seed, so a property test's examples cover
every subset of an op with up to four inputs), at every order. The held target is a function of
the other inputs (``HoldsConstants.holding``): their gradients must be what they are with every
input a Variable, checked numerically like the op's own; the constants can get none.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import Final

import numpy as np

from dezero_ext.core.variable import Array
from dezero_ext.testing.example import Example
from dezero_ext.testing.protocol import HoldsConstants

__all__ = ["held_subset", "held_subsets", "with_constants"]


_LISTED: Final = 4
"""Up to this many inputs the subsets are listed and the seed picks one (every one is met by
some seed); beyond, the seed draws one (a layer's parameters: 2**n subsets)."""


def held_subsets(arity: int) -> list[tuple[int, ...]]:
    """The nonempty, proper subsets of ``range(arity)``, smallest first."""
    return [c for k in range(1, arity) for c in combinations(range(arity), k)]


def held_subset(arity: int, seed: int) -> tuple[int, ...]:
    """The inputs held constant for the example with ``seed``: ``held_subsets(arity)[seed %
    len]`` for a few inputs, else each input with probability 1/2 (never all, never none);
    ``()`` for one input."""
    if arity < 2:
        return ()
    if arity <= _LISTED:
        subsets = held_subsets(arity)
        return subsets[seed % len(subsets)]
    rng = np.random.default_rng(seed)
    held = rng.random(arity) < 0.5
    held[rng.integers(arity)] = False  # one input stays
    if not held.any():
        held[rng.choice(np.flatnonzero(~held))] = True
    return tuple(int(i) for i in np.flatnonzero(held))


def with_constants(ex: Example) -> list[Example]:
    """``ex`` with one subset of its inputs held constant (chosen by ``ex.seed``), or nothing:
    for a one-input example, a variant or composition, or a target that cannot hold
    constants (not ``HoldsConstants``)."""
    target = ex.target
    held = held_subset(len(ex.inputs), ex.seed)
    if not held or ex.variant or ex.composed or not isinstance(target, HoldsConstants):
        return []
    constants: list[Array | None] = [x if i in held else None for i, x in enumerate(ex.inputs)]
    inputs = tuple(x for i, x in enumerate(ex.inputs) if i not in held)
    which = ", ".join(map(str, held))
    label = (
        f"inputs {which} passed as constants"
        if len(held) > 1
        else f"input {which} passed as a constant"
    ) + (
        " (an array, not a Variable; for another framework, its constant): the other inputs' "
        "gradients must be the same, the op must not fail"
    )
    return [replace(ex, target=target.holding(constants), inputs=inputs, variant=label)]
