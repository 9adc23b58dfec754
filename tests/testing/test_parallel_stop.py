"""A stop signal during ``check_ops(..., jobs=2)`` wherever it lands in the main thread: the
run stops, and the process ends. A Python signal handler runs between two bytecodes of the
main thread; one that raised there could leave a lock of ``concurrent.futures`` held (it
landed in ``wait()`` between taking two futures' locks), and the pool's manager thread then
waited for it forever, and the interpreter's exit for that thread (issue 18: a hang under
load). A profile hook makes the signal land exactly there (after the n-th C call of the
futures module returned in the main thread), so the test is deterministic; it runs in a
subprocess, since the hang is at the interpreter's exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

STOPPED_INSIDE = textwrap.dedent(
    """
    import signal, sys
    from dezero_ext import get_registry
    from dezero_ext.testing.options import CheckOptions
    from dezero_ext.testing.parallel import Interrupts, check_ops

    FUNCTION, NTH = sys.argv[1], int(sys.argv[2])
    calls = 0

    def profile(frame, event, arg):  # the signal comes right after the n-th C call returned
        global calls
        code = frame.f_code
        if event == "c_return" and code.co_name == FUNCTION and "futures" in code.co_filename:
            calls += 1
            if calls == NTH:
                signal.raise_signal(signal.SIGTERM)

    registry = get_registry()
    ops = [registry.get(name) for name in ("exp", "sin", "cos", "tanh", "log", "sqrt")]
    with Interrupts().installed() as interrupts:
        try:
            sys.setprofile(profile)
            options = CheckOptions(examples=2)
            check_ops(ops, options, plugins=lambda op: None, jobs=2, interrupts=interrupts)
        except KeyboardInterrupt as exc:
            sys.setprofile(None)
            print(repr(exc), flush=True)
    print("reached", calls, flush=True)
    """
)


@pytest.mark.parametrize(
    ("function", "nth"),
    [
        ("__enter__", 1),  # wait() holds the first future's lock, not the second's
        ("__exit__", 1),  # wait() released the first future's lock, not the second's
        ("wait", 1),  # wait() after its first C call (set(fs), the locks not taken yet)
    ],
)
def test_a_stop_signal_anywhere_in_the_wait_for_the_workers_ends_the_process(
    function: str, nth: int
) -> None:
    try:
        result = subprocess.run(
            [sys.executable, "-c", STOPPED_INSIDE, function, str(nth)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,  # about 3 s; a hang is what this test is about
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the process never ended after SIGTERM in {function}") from exc
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Stopped('SIGTERM')", result.stdout + result.stderr
    assert lines[1].startswith("reached") and int(lines[1].split()[1]) >= nth  # it did land
    assert "Traceback" not in result.stderr, result.stderr
