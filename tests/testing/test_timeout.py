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


_LOADS_WHILE_TIMED = """
import time
import numpy as np
from dezero_ext import Domain, Function, OpDef, Variable
from dezero_ext.testing import CheckOptions, check_op


class SlowImportOfPlugins(Function):
    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        return gy * 2.0  # wrong: the check fails and builds its report


op = OpDef(name="wrong_sin", function=SlowImportOfPlugins, domains=(Domain(-1.0, 1.0),))
import importlib.metadata
load = importlib.metadata.EntryPoint.load


def slow_load(self):  # a plugin whose import takes a second: the limit runs out inside it
    time.sleep(1.0)
    return load(self)


importlib.metadata.EntryPoint.load = slow_load
result = check_op(op, CheckOptions(examples=5, max_order=1, timeout=0.5))
from dezero_ext import get_registry
ops = get_registry().ops()
print(result.verdict, "conv2d" in ops, "sin" in ops)
"""


def test_a_time_limit_running_out_never_drops_a_plugin_from_the_registry() -> None:
    """The registry is loaded before an op's time limit is armed: a limit that ran out while a
    plugin was being imported (a failure's report looks the op up in the registry) made the
    registry skip that plugin for the rest of the process."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _LOADS_WHILE_TIMED], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    verdict, conv2d, sin = done.stdout.split()
    assert (conv2d, sin) == ("True", "True"), done.stdout + done.stderr
    assert "skipping plugin" not in done.stderr
    assert verdict in {"FAIL", "TIMEOUT", "Verdict.FAIL", "Verdict.TIMEOUT"}


def test_a_timeout_that_code_turned_into_another_error_is_still_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The alarm lands wherever the check is, Hypothesis's own data generation included,
    which turned it into ``FlakyStrategyDefinition`` (an ERROR): a check whose limit ran out
    is a TIMEOUT, whatever the exception it ended with."""
    import signal

    def swallowing_claims(*args: Any, **kwargs: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0.01)  # the limit runs out here, now
        try:
            give_up = time.monotonic() + 600  # the alarm ends the wait, not this
            while time.monotonic() < give_up:
                time.sleep(0.01)
        except BaseException as exc:  # what careless code does with it
            raise RuntimeError("Inconsistent data generation!") from exc

    monkeypatch.setattr(runner, "check_claims", swallowing_claims)
    options = CheckOptions(examples=2, max_order=1, timeout=60.0)
    result = runner.check_op(get_registry().get("exp"), options)
    assert result.verdict == "TIMEOUT", result.report
    assert result.report.startswith("op 'exp' timed out after 60 s"), result.report
