"""A time limit is a ``TIMEOUT`` verdict however small (``dezero_ext.testing.timeout``): it may
run out on any line of a check, the Hypothesis set-up included, and its exception crosses a
process boundary (``check -j N``)."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest

from dezero_ext.registry import get_registry
from dezero_ext.testing import runner
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.timeout import CheckTimeout, Phase, supported, time_limit

pytestmark = pytest.mark.skipif(not supported(), reason="needs signal.setitimer")


def test_a_limit_that_runs_out_outside_the_property_test_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # building the property test (Hypothesis's decorators) takes the whole limit
    build = runner.op_property

    def slow_build(*args: Any, **kwargs: Any) -> Any:  # op_property's, passed through
        give_up = time.monotonic() + 600  # the alarm ends the wait, not this
        while time.monotonic() < give_up:
            time.sleep(0.01)
        return build(*args, **kwargs)

    monkeypatch.setattr(runner, "op_property", slow_build)
    result = runner.check_op(get_registry().get("exp"), CheckOptions(timeout=0.05))
    assert result.verdict == "TIMEOUT", result.report
    assert result.report.startswith("op 'exp' timed out after 0.05 s in drawing the example")


def test_a_timeout_survives_pickling() -> None:
    # a worker process sends it back (check -j N): an exception that cannot be rebuilt
    # breaks the pool, and every op in it was reported as a crash in C
    sent = CheckTimeout(0.25, Phase("backward", 2))
    received = pickle.loads(pickle.dumps(sent))
    assert isinstance(received, CheckTimeout)
    assert (received.seconds, received.phase.name, received.phase.order) == (0.25, "backward", 2)
    assert str(received) == str(sent)


def test_a_limit_that_runs_out_in_a_del_still_ends_the_check(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Python swallows what a __del__ or a gc callback raises ("Exception ignored"): the time-out
    # must come again where it ends the check, and print nothing
    class Collected:
        def __del__(self) -> None:
            time.sleep(600)  # the alarm comes here

    def check() -> None:
        with time_limit(0.05):
            Collected()
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up:
                time.sleep(0.01)
        pytest.fail("the check ran on after its time-out was swallowed")

    with pytest.raises(CheckTimeout):
        check()
    assert "Exception ignored" not in capfd.readouterr().err
