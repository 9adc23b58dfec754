"""``check_op``: the property test of one op, as ``dezero-ext check`` and the pytest plugin
run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dezero_ext import Array, OpDef, get_registry
from dezero_ext.testing import CheckOptions, check_op
from tests import mutants


def test_runs_are_derandomized_by_default() -> None:
    relu = mutants.RELU
    first, second = (
        check_op(relu, options=CheckOptions(examples=20)),
        check_op(relu, options=CheckOptions(examples=20)),
    )
    assert (first.examples, first.kink_hits, first.worst_rel_error) == (
        second.examples,
        second.kink_hits,
        second.worst_rel_error,
    )


def test_a_seed_gives_other_examples() -> None:
    tanh = get_registry().get("tanh")
    by_seed = {
        check_op(tanh, options=CheckOptions(orders=(1,), examples=15, seed=s)).worst_rel_error
        for s in range(3)
    }
    assert len(by_seed) > 1


def test_every_declared_order_is_checked_by_default() -> None:
    result = check_op(get_registry().get("exp"), options=CheckOptions(examples=5))
    assert result.orders == (1, 2, 3)
    assert result.examples >= 15
    assert result.passed and result.verdict == "ok"


def test_an_op_that_raises_is_an_error_not_a_crash() -> None:
    class Broken(mutants.Cos):
        def forward(self, x: Array) -> Array:
            raise RuntimeError("forward is broken")

    result = check_op(OpDef("broken", Broken), options=CheckOptions(examples=5))
    assert result.verdict == "FAIL"
    assert result.failure is not None and result.failure.failure.kind == "error"
    assert "forward is broken" in str(result.failure)


def test_one_options_object_chooses_the_orders_everywhere() -> None:
    tanh = get_registry().get("tanh")  # declared to order 3 or more
    assert tanh.order >= 3
    assert CheckOptions(orders=[2, 1, 2]).orders == (1, 2)  # type: ignore[arg-type]  # a list, normalised
    assert CheckOptions(max_order=2).orders_for(tanh) == (1, 2)
    assert CheckOptions(max_order=9).orders_for(tanh) == tuple(range(1, tanh.order + 1))
    assert check_op(tanh, CheckOptions(max_order=2, examples=3)).orders == (1, 2)
    assert check_op(tanh, CheckOptions(orders=(2,), examples=3)).orders == (2,)


def test_kink_hits_count_only_declared_kinks() -> None:
    # An abs declared with no kink: Hypothesis draws 0.0 (a kink the checker finds numerically),
    # but the op claims no convention there, so no "kink hit" is reported for it.
    from dezero_ext import Domain
    from dezero_ext.ops.arithmetic import Abs

    # (its JVP rule is left out: the JVP check has no numerical kink detection yet, and fails
    # such an op where it draws 0.0 -- whether it does depends on Hypothesis's example stream;
    # an open item of issue 20, said in the closing note)
    class AbsWithoutJvp(Abs):
        jvp = None  # type: ignore[assignment]  # Abs without its rule: a fallback op
        jvp_array = None  # type: ignore[assignment]  # (and without the fast one)

    undeclared = OpDef("abs_no_kink", AbsWithoutJvp, domains=(Domain(-2.0, 2.0),), order=1)
    declared = OpDef("abs_kink", Abs, domains=(Domain(-2.0, 2.0, kinks=(0.0,)),), order=1)
    options = CheckOptions(examples=40, full_jacobian=True)
    assert check_op(declared, options).kink_hits > 0
    result = check_op(undeclared, options)
    assert result.passed and result.kink_hits == 0


def test_the_default_database_moves_out_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase

    from dezero_ext.testing.runner import op_settings
    from dezero_ext.testing.storage import database

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    default = DirectoryBasedExampleDatabase(tmp_path / ".hypothesis" / "examples")
    moved = database(default)
    assert isinstance(moved, DirectoryBasedExampleDatabase)
    assert Path(moved.path) == tmp_path / "cache" / "dezero-ext" / "hypothesis" / "examples"
    own = InMemoryExampleDatabase()  # the user's choice stays
    assert database(own) is own and database(None) is None
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", "there")
    assert database(default) is default
    assert op_settings(CheckOptions()).database is None  # the Python API keeps none at all
