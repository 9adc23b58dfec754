"""The checker's power, counted: how many deliberately wrong ops (``tests/mutants.py`` and the
mutants of the other checker tests) a check kills. At the default options every one; at low
power (2 examples per order, seeds 0 to 9) a count that drops when a change of the strategies
or the numerics leaves faults unseen (211 of 220 when issue 22 made the check faster, with
the same count per mutant before and after). Soak runs (``-m slow``): about 90 s of CPU; the
mutants declared ``elementwise`` (central differences on stacked points, ``stacked.py``) must
die exactly as often as declared without it: about 90 s more."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dezero_ext import OpDef
from dezero_ext.testing import CheckOptions, check_op
from tests import mutants as m
from tests.testing import test_edges as edges
from tests.testing import test_forward_claims as claims
from tests.testing import test_input_paths as paths
from tests.testing import test_jvp_check as jvp
from tests.testing import test_ties_higher_order as ties

MUTANTS: list[OpDef] = [
    m.FLIPPED_EXP,
    m.DOUBLED_SQUARE,
    m.TRANSPOSED_MATMUL,
    m.UNBROADCAST_ADD,
    m.BAD_SECOND_SIN,
    m.FLOAT32_SQUARE,
    m.SUMMED_GRADIENT,
    m.FLOAT64_LEAK,
    m.RELU_RIGHT_AT_ZERO,
    m.DROPPED_MUL,
    m.MAX_EVERY_TIED,
    m.SHARED_STATE_SQUARE,
    m.IN_PLACE_EXP,
    m.IN_PLACE_GRAD_TRIPLED,
    paths.SWAPPED,
    OpDef("almost_log", edges.AlmostLog, domains=(edges._SMALL,)),
    jvp._op(jvp.WrongJvpCube),
    jvp._op(jvp.WrongVjpCube),
    jvp._op(jvp.WrongFastCube),
    jvp._op(jvp.ConstantJvpCube, order=2),
    ties.WRONG_SECOND,
    claims._op("twice_sin", claims.TwiceSin, reference=claims.SIN),
]
LOW_POWER_KILLS = 211  # of 22 mutants x 10 seeds, measured (module docstring)


@pytest.mark.slow
def test_the_default_check_kills_every_mutant() -> None:
    missed = [op.name for op in MUTANTS if check_op(op).passed]
    assert missed == []


@pytest.mark.slow
def test_the_low_power_kill_count_does_not_drop() -> None:
    kills = {
        op.name: sum(not check_op(op, CheckOptions(examples=2, seed=s)).passed for s in range(10))
        for op in MUTANTS
    }
    assert sum(kills.values()) >= LOW_POWER_KILLS, kills


# every mutant whose forward is elementwise (not the matmul, not the max)
STACKABLE = [op for op in MUTANTS if op.name not in ("transposed_matmul", "max_every_tied")]


@pytest.mark.slow
def test_declared_elementwise_the_mutants_die_as_often() -> None:
    def kills(op: OpDef) -> int:
        return sum(not check_op(op, CheckOptions(examples=2, seed=s)).passed for s in range(10))

    plain = {op.name: kills(op) for op in STACKABLE}
    stacked = {op.name: kills(replace(op, elementwise=True)) for op in STACKABLE}
    assert stacked == plain
    assert not [op.name for op in STACKABLE if check_op(replace(op, elementwise=True)).passed]
