"""A worker process under Ctrl-C (``dezero_ext.testing.parallel``): the second press stops
the check it runs, and what the interrupt cuts short prints nothing. Run in a subprocess:
the handler replaces ``sys.unraisablehook`` and may end the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import gc, signal, sys
    from dezero_ext.testing import parallel

    class HalfBuilt:  # as an object whose __init__ the interrupt cut short
        def __del__(self):
            self.missing  # AttributeError: Python would print "Exception ignored"

    parallel._worker_init()
    parallel._worker.busy = True
    signal.raise_signal(signal.SIGINT)  # the first press: ignored
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        print("stopped")
    HalfBuilt()
    gc.collect()
    print("quiet", flush=True)
    """
)


def _run(after: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WORKER + textwrap.dedent(after)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_second_press_stops_the_check_and_later_unraisable_errors_print_nothing() -> None:
    result = _run("")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["stopped", "quiet"]
    assert result.stderr == ""


def test_an_interrupt_swallowed_by_a_del_still_ends_the_worker() -> None:
    result = _run(
        """
        class Interrupted:
            def __del__(self):
                raise KeyboardInterrupt  # Python can only report it as unraisable here
        Interrupted()
        print("ran on")
        """
    )
    assert result.returncode == 130, result.stderr
    assert "ran on" not in result.stdout
    assert result.stderr == ""


def test_a_busy_worker_takes_one_press_and_an_idle_one_none() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import signal
                from dezero_ext.testing import parallel
                parallel._worker_init()
                for _ in range(3):  # idle: every press ignored
                    signal.raise_signal(signal.SIGINT)
                parallel._worker.busy = True
                signal.raise_signal(signal.SIGINT)  # a third press and more while busy
                print("ignored while idle")
                """
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ignored while idle" not in result.stdout
    assert "KeyboardInterrupt" in result.stderr


MAIN = textwrap.dedent(
    """
    import signal, sys, time
    from dezero_ext.testing.parallel import Interrupts, Stopped

    class Collected:  # the stop lands in a __del__ (a LeafGuard's, a gc callback)
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)

    with Interrupts().installed() as interrupts:
        try:
            Collected()  # Python swallows the Stopped raised in its __del__
            give_up = time.monotonic() + 600  # the check running on
            while time.monotonic() < give_up:
                time.sleep(0.01)
            print("ran on")
        except Stopped as exc:
            print("stopped", signal.Signals(exc.signum).name, flush=True)
        signal.raise_signal(signal.SIGTERM)  # later signals wait for the clean-up
        print("cleaned up", signal.Signals(interrupts.signum).name)
    """
)


def test_a_stop_swallowed_by_a_del_in_the_main_process_is_raised_again_quietly() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MAIN], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["stopped SIGTERM", "cleaned up SIGTERM"]
    assert result.stderr == ""
