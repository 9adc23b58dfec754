"""Checking many registered ops: one after the other in this process, or in worker processes
(``dezero-ext check -j N``) with the standard library's ``ProcessPoolExecutor``.

Each op's check depends only on the op and the ``CheckOptions`` (Hypothesis is derandomized,
or seeded, per op), so the results are the same however the ops are spread over processes;
workers import what this process imported (a ``forkserver`` preloads it), so Hypothesis sees
the same modules. A worker that dies (an op calling ``os._exit``, a crash in C) costs the
pool, and the pool with it: when it was checking one op, that op is reported as ``ERROR``; when
several were running, none of them is blamed yet: each is checked again alone, in a pool of one
worker, so only the op that ends its process is reported, and the others go on in a new pool.

Ctrl-C: the first one lets the checks in progress finish and starts no new one; a second one
stops them at once. A terminal sends Ctrl-C to the workers too: a worker ignores the first,
and the second stops the check it is running; a worker waiting for work ignores both (it
ends when the pool shuts down; raising there would print a traceback from the pool's loop).
SIGTERM and SIGHUP stop the run at once, as a second Ctrl-C does. Whatever stops the run at
once, the workers still running are ended before this process goes on (a signal sent to this
process alone, ``kill PID``, never reaches them), so nothing outlives it holding its output.

While workers run, a stop signal's handler raises nothing: it records the stop, and the loop
waiting for the workers raises it at its next look (every ``_POLL`` seconds), holding no lock
(``interrupts.py`` says why). ``kill -USR1`` prints where each thread of the command and of
its workers is (``faulthandler``), and the run goes on.
"""

from __future__ import annotations

import contextlib
import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from types import FrameType
from typing import Final

from dezero_ext.opdef import OpDef
from dezero_ext.registry import PluginLoadWarning, get_registry
from dezero_ext.testing.interrupts import Interrupts, Stopped
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.runner import OpCheckResult, check_op

__all__ = ["Interrupts", "Stopped", "check_one", "check_ops"]

_PARENT_POLL: Final = 0.5  # seconds between a worker's checks that the command still runs
EXIT_ORPHANED: Final = 3  # a worker's status when it ended because the command had ended
_WORKER_END: Final = 10.0  # seconds a terminated worker has to end before it is killed
_POLL: Final = 0.1  # seconds between the looks of the loop waiting for workers at a stop


def check_one(opdef: OpDef, options: CheckOptions, plugin: str | None) -> OpCheckResult:
    """``check_op`` of ``opdef`` with ``options``, in a worker process or this one."""
    return check_op(opdef, options, plugin=plugin)


@dataclass(slots=True)
class _WorkerInterrupts:
    """Ctrl-C in a worker process: the second one stops the check in progress, if any."""

    presses: int = 0
    busy: bool = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.presses >= 2 and self.busy:
            sys.unraisablehook = _abandoned
            raise KeyboardInterrupt


def _abandoned(unraisable: sys.UnraisableHookArgs) -> None:
    """A worker's ``sys.unraisablehook`` once the second Ctrl-C stopped its check. The
    interrupt lands on any line: in a ``__del__`` or a gc callback Python swallows it (and
    would print "Exception ignored"), and an object it cut short can fail in its ``__del__``
    later. The check is abandoned, so none of it is news: print nothing, and end the worker
    when the interrupt itself was swallowed (its check would otherwise run on)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        os._exit(130)


_worker = _WorkerInterrupts()


def _worker_init(parent: int | None = None) -> None:
    signal.signal(signal.SIGINT, _worker.handle)
    if hasattr(signal, "SIGUSR1"):  # kill -USR1 prints where it is, as the command does
        with contextlib.suppress(AttributeError, OSError, ValueError):  # stderr is no file
            faulthandler.register(signal.SIGUSR1, all_threads=True)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})  # the forkserver's
    # A plugin skipped here was skipped by the parent too, which says so once.
    warnings.filterwarnings("ignore", category=PluginLoadWarning)
    if parent is not None:
        threading.Thread(
            target=_end_with, args=(parent,), name="dezero-ext-parent", daemon=True
        ).start()


def _end_with(parent: int) -> None:
    """End this worker soon after the ``dezero-ext`` process that runs it: a worker whose start
    a stop signal interrupted is one the parent cannot know to end (its pid was never handed
    back), and a worker left checking would hold the parent's stdout (``| tee`` would never
    end). The worker's own parent is the forkserver, so it polls the command's pid."""
    while True:
        time.sleep(_PARENT_POLL)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(EXIT_ORPHANED)
        except PermissionError:  # the pid was reused by another user's process: ours is gone
            os._exit(EXIT_ORPHANED)


def _check_in_worker(name: str, options: CheckOptions) -> OpCheckResult:
    registry = get_registry()
    _worker.busy = True
    try:
        return check_one(registry.get(name), options, registry.provider(name).name).detached()
    finally:
        _worker.busy = False


def _died(opdef: OpDef, plugin: str | None, exc: BaseException) -> OpCheckResult:
    # only ever the op checked alone in its pool, or the only one running when it broke
    report = (
        f"the worker process checking op {opdef.name!r} died ({type(exc).__name__}): the op "
        "ended its process (os._exit, a crash in C code), or the process was killed; check "
        f"it with -j 1 (dezero-ext check {opdef.name} -j 1) to see how"
    )
    return _error(opdef, plugin, report)


def _error(opdef: OpDef, plugin: str | None, report: str) -> OpCheckResult:
    """An ERROR verdict for ``opdef`` that no check of it produced (its worker failed)."""
    return OpCheckResult(opdef.name, plugin, (), 0, 0, 0.0, 0.0, "ERROR", report)


def check_ops(
    ops: Sequence[OpDef],
    options: CheckOptions,
    *,
    plugins: Callable[[OpDef], str | None],
    jobs: int = 1,
    interrupts: Interrupts | None = None,
    started: Callable[[int, OpDef], None] | None = None,
    finished: Callable[[int, OpCheckResult], None] | None = None,
) -> list[OpCheckResult]:
    """Check ``ops`` with ``options``, in this process (``jobs == 1``) or in ``jobs`` worker
    processes; return the results in the order of ``ops`` (those checked, when interrupted).
    ``started``/``finished`` are told each op's index as it starts and ends. A second Ctrl-C
    raises ``KeyboardInterrupt`` after the results so far are passed to ``finished``."""
    interrupts = interrupts or Interrupts()
    if jobs <= 1:
        results: list[OpCheckResult] = []
        for n, opdef in enumerate(ops):
            if interrupts.stopping:
                break
            if started is not None:
                started(n, opdef)
            result = check_one(opdef, options, plugins(opdef))
            results.append(result)
            if finished is not None:
                finished(n, result)
        return results
    done: dict[int, OpCheckResult] = {}
    queue = list(enumerate(ops))
    suspects: set[int] = set()  # running when a pool broke beside others: next, each alone
    with interrupts.deferred():
        while queue and not interrupts.stopping:
            if queue[0][0] in suspects:
                alone = queue[:1]
                rest = _pool_run(alone, options, plugins, 1, interrupts, done, started, finished)
                queue = rest + queue[1:]
                if rest:  # interrupted before it ran
                    break
            else:
                queue = _pool_run(
                    queue, options, plugins, jobs, interrupts, done, started, finished, suspects
                )
        interrupts.check()  # a stop that came as the last pool shut down
    return [done[n] for n in sorted(done)]


def _context() -> multiprocessing.context.BaseContext:
    """A clean start for workers (no fork of a process with threads), preloading the
    dezero_ext modules this process has: Hypothesis draws constants from the source of the
    project modules loaded, so the workers must load the same ones."""
    with _usr1_blocked():  # the helper processes started here keep it blocked
        _start_resource_tracker()
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            loaded = sorted(name for name in sys.modules if name.split(".")[0] == "dezero_ext")
            context.set_forkserver_preload(loaded)
            forkserver.ensure_running()
            return context
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _usr1_blocked() -> Iterator[None]:
    """SIGUSR1 blocked in this thread for the duration. A process started meanwhile inherits
    the mask: ``kill -USR1`` sent to the whole group, to see where the command and its workers
    are (they print it, ``_worker_init``), does not end the resource tracker and the
    forkserver (its default action), which would break the pool."""
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is None or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {usr1})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker ignoring SIGHUP, as it ignores SIGINT and
    SIGTERM: a hang-up sent to every process (a terminal that closes) would end it, and the
    pool's clean-up would start another, which prints a traceback for each semaphore it never
    saw. (A hang-up in the few milliseconds this takes is lost; the tracker is started once.)"""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None or threading.current_thread() is not threading.main_thread():
        return  # (signal.signal works in the main thread only)
    from multiprocessing import resource_tracker

    previous = signal.signal(hangup, signal.SIG_IGN)  # an ignored signal stays so across exec
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(hangup, previous)


def _pool_run(
    queue: list[tuple[int, OpDef]],
    options: CheckOptions,
    plugins: Callable[[OpDef], str | None],
    jobs: int,
    interrupts: Interrupts,
    done: dict[int, OpCheckResult],
    started: Callable[[int, OpDef], None] | None,
    finished: Callable[[int, OpCheckResult], None] | None,
    suspects: set[int] | None = None,
) -> list[tuple[int, OpDef]]:
    """Run ``queue`` in one pool until it is empty, stopped, or the pool breaks; return what
    is left to run. When a worker dies with one op running, that op died; with several, their
    indices join ``suspects`` and they go back to the front of the queue, to run alone."""
    queue = list(queue)
    running: dict[Future[OpCheckResult], tuple[int, OpDef]] = {}
    pool = ProcessPoolExecutor(
        jobs, mp_context=_context(), initializer=_worker_init, initargs=(os.getpid(),)
    )
    broken = False
    try:
        while (queue or running) and not broken:
            while queue and len(running) < jobs and not interrupts.stopping:
                n, opdef = queue.pop(0)
                running[pool.submit(_check_in_worker, opdef.name, options)] = (n, opdef)
                if started is not None:
                    with interrupts.prompt():
                        started(n, opdef)
            interrupts.check()
            if not running:
                break
            ready, _ = wait(running, timeout=_POLL, return_when=FIRST_COMPLETED)
            interrupts.check()  # here, not in the handler: wait() takes the futures' locks
            for future in ready:
                n, opdef = running[future]
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    broken = True
                    if interrupts.stopping:
                        break  # Ctrl-C reached the workers too: interrupted, not died
                    if len(running) > 1 and suspects is not None:
                        break  # which op ended the process? each runs again alone
                    result = _died(opdef, plugins(opdef), exc)
                except Exception as exc:  # noqa: BLE001 - the worker could not run the check
                    report = f"the worker process could not check op {opdef.name!r}: {exc!r}"
                    result = _error(opdef, plugins(opdef), report)
                del running[future]
                done[n] = result
                if finished is not None:  # it may block writing the table: a stop ends it
                    with interrupts.prompt():
                        finished(n, result)
        if broken and running and not interrupts.stopping:  # none is blamed yet
            assert suspects is not None  # (a pool of one runs one op at a time)
            suspects.update(n for n, _ in running.values())
            queue = sorted(running.values(), key=lambda item: item[0]) + queue
            running.clear()
    except BaseException:  # stopped at once: the checks in progress are ended with it
        _end_workers(pool)
        raise
    finally:
        for future in running:
            future.cancel()
        pool.shutdown(wait=not running, cancel_futures=True)
    return queue


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the worker processes of ``pool`` and wait for them (killing those that do
    not end): a signal sent to this process alone never reaches them, and the pool's shutdown
    leaves a worker to finish its check. (Python 3.14's ``terminate_workers`` does this.)"""
    workers = list((pool._processes or {}).values())  # private: no public way before 3.14
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):  # ended already, or closed
            worker.terminate()
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):
            worker.join(_WORKER_END)
            if worker.is_alive():
                worker.kill()
                worker.join()
