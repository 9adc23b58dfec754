"""Checking many registered ops on a Dask distributed cluster (``dezero-ext check --scheduler
ADDRESS``, the pytest plugin's ``--dezero-ext-scheduler``): one task per op, each the
``check_op`` a local run makes, so the table, the JSON and the exit status are those of
``-j N``.

- **The same results.** An op's check depends only on the op and the ``CheckOptions``
  (Hypothesis is derandomized, or seeded, per op), and on the source constants Hypothesis
  collects from the local modules loaded (``parallel.py`` preloads them in its workers for the
  same reason): each task imports the ``dezero_ext*`` modules this process has before it
  checks. The workers need the same packages (dezero_ext, its plugins, Hypothesis) as this
  process: an op a worker does not have is an ``ERROR`` naming the worker.
- **A lost worker costs only its op, and not even that.** When a worker dies mid-check (its
  machine fails, the process is killed), the scheduler runs the task again on another worker
  (Dask's own retry); only an op that ends every process it runs in (``os._exit``, a crash in
  C) is reported, as ``ERROR``, once the scheduler gives up on it
  (``distributed.scheduler.allowed-failures`` deaths, 3 by default: ``KilledWorker``) and it
  died again when checked alone. Dask counts a death against every task on the dying worker,
  the one running and the ones waiting there (after a death fewer workers share the tasks in
  flight), so an op given up on is checked once more when nothing else is in flight: only an
  op that kills a worker on its own is reported.
- **One check per worker process at a time.** A task runs in a worker's thread; the checker
  keeps per-process state (Hypothesis's, the phase a time-out names), so a worker with several
  threads still checks one op at a time, and at most one task per worker is in flight (start
  workers with ``--nthreads 1``, as many per machine as it has cores).
- **The time limit** (``--timeout``): the ``SIGALRM`` timer of ``timeout.py`` works in a main
  thread only, so on a worker a watchdog thread raises ``CheckTimeout`` in the check's thread
  instead. It interrupts Python code, not a C call (a ``time.sleep``, a lock wait, one NumPy
  call).
- **Ctrl-C**: the first one lets the checks in progress finish and submits no new one; a
  second one (or SIGTERM, SIGHUP) stops at once and cancels what was submitted (a task already
  running ends on its worker; Dask cannot interrupt a thread).

``distributed`` is an optional dependency (``pip install 'dask[distributed]'``), imported on
first use.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Final, Protocol

from dezero_ext.opdef import OpDef
from dezero_ext.registry import PluginLoadWarning, get_registry
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.parallel import Interrupts
from dezero_ext.testing.runner import OpCheckResult, check_op
from dezero_ext.testing.timeout import CheckTimeout, current_phase

__all__ = [
    "Client",
    "ClusterError",
    "check_on_cluster",
    "check_on_worker",
    "connect",
    "thread_time_limit",
]


class Future(Protocol):
    """What this module uses of a ``distributed.Future``."""

    def result(self) -> OpCheckResult: ...


class _Completed(Protocol):
    """``distributed.as_completed``: the futures added, as they finish."""

    def add(self, future: Future) -> None: ...

    def __next__(self) -> Future: ...


class Client(Protocol):
    """What this module uses of a ``distributed.Client`` (typed here: ``distributed`` is an
    optional dependency, and leaves these untyped)."""

    @property
    def loop(self) -> object: ...

    def submit(
        self, func: Callable[..., OpCheckResult], /, *args: object, pure: bool
    ) -> Future: ...

    def cancel(self, futures: list[Future]) -> object: ...

    def nthreads(self) -> dict[str, int]: ...

    def close(self) -> object: ...


INSTALL: Final = (
    "pip install 'dask[distributed]' (from a checkout of dezero-ext: pip install -e '.[dask]')"
)
CONNECT_TIMEOUT: Final = 10.0  # seconds to reach the scheduler before giving up
_AGAIN: Final = 0.05  # seconds until a time-out a __del__ swallowed is raised again


class ClusterError(Exception):
    """The cluster cannot be used: ``distributed`` is not installed, or the scheduler at the
    address given cannot be reached."""


def _distributed() -> ModuleType:
    """``dask.distributed``, imported on first use; ``ClusterError`` says how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise ClusterError(f"--scheduler needs dask.distributed ({exc}): {INSTALL}") from None


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Client:
    """A Dask ``Client`` of the scheduler at ``address`` (``tcp://host:8786``); raises
    ``ClusterError`` saying why not."""
    distributed = _distributed()
    try:
        client: Client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({exc}); "
            "start one (dask scheduler, then dask worker ADDRESS --nthreads 1) or check the "
            "address"
        ) from None
    return client


# ---------------------------------------------------------------- on a worker
_one_at_a_time = threading.Lock()


def check_on_worker(
    name: str, options: CheckOptions, plugin: str | None, modules: Sequence[str]
) -> OpCheckResult:
    """The task: ``check_op`` of the op registered as ``name`` in this worker, after importing
    ``modules`` (those the submitting process has), one check per process at a time."""
    for module in modules:
        with contextlib.suppress(ImportError):  # (one only the submitter has: no constants)
            importlib.import_module(module)
    # A plugin this worker skipped is the submitter's to report; the event loop's threads use
    # the `random` module while a check draws, which Hypothesis would take for the strategy's.
    warnings.filterwarnings("ignore", category=PluginLoadWarning)
    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")
    with _one_at_a_time:
        registry = get_registry()
        if name not in registry.ops():
            return _error(name, plugin, f"op {name!r} is not installed on {_worker_name()}")
        try:
            with thread_time_limit(options.time_limit):
                return check_op(registry.get(name), options, plugin=plugin).detached()
        except CheckTimeout as exc:  # (it landed after check_op returned: a late one)
            from dezero_ext.testing.runner import timeout_report

            report = timeout_report(exc, name)
            return OpCheckResult(name, plugin, (), 0, 0, 0.0, exc.seconds, "TIMEOUT", report)


def _worker_name() -> str:
    try:
        return f"the worker at {_distributed().get_worker().address}"
    except (ClusterError, ValueError):
        return "this worker"


class _Expired(CheckTimeout):
    """What the watchdog raises in a check's thread (built with no arguments, as
    ``PyThreadState_SetAsyncExc`` builds it), for the limit of the check running."""

    seconds_now: float = 0.0

    def __init__(self) -> None:
        super().__init__(_Expired.seconds_now, current_phase())


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in the thread ``thread_id`` at its next line (``None``: take back
    one set and not raised yet)."""
    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


@contextlib.contextmanager
def thread_time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``CheckTimeout`` in the block if it runs longer than ``seconds`` (``None``, 0: no
    limit), from a watchdog thread: for a check in a thread other than the main one (where
    ``timeout.time_limit`` works by ``SIGALRM``). A time-out swallowed by a ``__del__`` comes
    again shortly; none is raised once the block has ended."""
    if not seconds or seconds <= 0:
        yield
        return
    _Expired.seconds_now = seconds
    me = threading.get_ident()
    ended = threading.Event()
    armed = threading.Lock()  # held while raising, and by the block's end to disarm

    def watch() -> None:
        delay = seconds
        while not ended.wait(delay):
            with armed:
                if ended.is_set():
                    return
                _raise_in(me, _Expired)
            delay = _AGAIN

    watchdog = threading.Thread(target=watch, name="dezero-ext-time-limit", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        _disarm(ended, armed, me)
        watchdog.join()


class _Disarmed(BaseException):
    """Sent by a block's end to its own thread, replacing a time-out set and not raised yet."""


def _disarm(ended: threading.Event, armed: threading.Lock, me: int) -> None:
    """End the watchdog and take back a time-out it set and this thread did not raise yet;
    a time-out landing while this runs only makes it run again.

    The time-out is replaced by ``_Disarmed``, raised and caught here, never cleared with
    ``PyThreadState_SetAsyncExc(id, NULL)``: in CPython 3.11 that leaves the interpreter's
    "asynchronous exception pending" flag set for good, so every later bytecode takes the
    eval loop's slow path (a failing check's Hypothesis explain phase then ran for ever)."""
    while True:
        try:
            with armed:
                ended.set()
                _raise_in(me, _Disarmed)
            for _ in range(10_000_000):  # it lands at the loop's next check of the eval breaker
                pass
            raise RuntimeError("dezero-ext: a time limit's watchdog could not be disarmed")
        except _Disarmed:
            return
        except CheckTimeout:
            continue


# ---------------------------------------------------------------- in the submitting process
def _loaded_modules() -> tuple[str, ...]:
    return tuple(
        sorted(name for name in sys.modules if name.split(".")[0].startswith("dezero_ext"))
    )


def _error(name: str, plugin: str | None, report: str) -> OpCheckResult:
    return OpCheckResult(name, plugin, (), 0, 0, 0.0, 0.0, "ERROR", report)


def _outcome(
    future: Future, opdef: OpDef, plugin: str | None, alone: bool
) -> tuple[OpCheckResult, bool]:
    """The result a finished task brings back, or an ``ERROR`` saying why it brought none;
    and whether the scheduler gave up on the task for the workers that died running it."""
    killed_worker: type[Exception] = _distributed().KilledWorker
    try:
        return future.result(), False
    except killed_worker as exc:
        report = (
            f"the workers checking op {opdef.name!r} died ({type(exc).__name__}: the scheduler "
            "gave up after as many workers as distributed.scheduler.allowed-failures allows; "
            + (
                "checked again alone, it died again"
                if alone
                else "the run stopped before it was checked again alone"
            )
            + "): the op ends its process (os._exit, a crash in C code), or the workers were "
            f"killed; check it with -j 1 (dezero-ext check {opdef.name} -j 1) to see how"
        )
        return _error(opdef.name, plugin, report), True
    except Exception as exc:  # noqa: BLE001 - the cluster could not run the check
        report = f"the cluster could not check op {opdef.name!r}: {exc!r}"
        return _error(opdef.name, plugin, report), False


def _capacity(client: Client) -> int:
    """Tasks in flight: one per worker (each checks one op at a time)."""
    return max(1, len(client.nthreads()))  # (one call to the scheduler: the workers now)


def check_on_cluster(
    ops: Sequence[OpDef],
    options: CheckOptions,
    *,
    scheduler: str | Client,
    plugins: Callable[[OpDef], str | None],
    interrupts: Interrupts | None = None,
    started: Callable[[int, OpDef], None] | None = None,
    finished: Callable[[int, OpCheckResult], None] | None = None,
) -> list[OpCheckResult]:
    """Check ``ops`` with ``options`` on the Dask cluster of ``scheduler`` (an address, or a
    ``Client``); return the results in the order of ``ops`` (those checked, when
    interrupted), as ``parallel.check_ops`` does. Raises ``ClusterError`` when the scheduler
    cannot be reached."""
    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        return _run(client, ops, options, plugins, interrupts or Interrupts(), started, finished)
    finally:
        if isinstance(scheduler, str):
            client.close()


def _run(
    client: Client,
    ops: Sequence[OpDef],
    options: CheckOptions,
    plugins: Callable[[OpDef], str | None],
    interrupts: Interrupts,
    started: Callable[[int, OpDef], None] | None,
    finished: Callable[[int, OpCheckResult], None] | None,
) -> list[OpCheckResult]:
    modules = _loaded_modules()
    queue = list(enumerate(ops))
    running: dict[Future, tuple[int, OpDef]] = {}
    done: dict[int, OpCheckResult] = {}
    # Ops the scheduler gave up on (KilledWorker), with that result: each is checked again
    # alone once the rest are done, since a death counts against every task on the worker
    again: dict[int, tuple[OpDef, OpCheckResult]] = {}
    alone = False  # checking those again, one at a time
    pending: _Completed = _distributed().as_completed(loop=client.loop)
    try:
        while queue or running:
            free = (1 if alone else _capacity(client)) - len(running) if queue else 0
            while queue and free > 0 and not interrupts.stopping:
                free -= 1
                n, opdef = queue.pop(0)
                future = client.submit(
                    check_on_worker, opdef.name, options, plugins(opdef), modules, pure=False
                )
                running[future] = (n, opdef)
                pending.add(future)
                if started is not None and not alone:
                    started(n, opdef)
            if not running:
                break
            future = next(pending)
            n, opdef = running.pop(future)
            result, died = _outcome(future, opdef, plugins(opdef), alone)
            if died and not alone:
                again[n] = (opdef, result)
            else:
                _finish(n, result, done, finished)
            if not queue and not running and again and not alone and not interrupts.stopping:
                queue, alone = [(n, opdef) for n, (opdef, _) in sorted(again.items())], True
    finally:
        if running:  # stopped at once: what was submitted is not wanted any more
            client.cancel(list(running))
    for n, (_, result) in sorted(again.items()):  # stopped before they were checked again
        if n not in done:
            _finish(n, result, done, finished)
    return [done[n] for n in sorted(done)]


def _finish(
    n: int,
    result: OpCheckResult,
    done: dict[int, OpCheckResult],
    finished: Callable[[int, OpCheckResult], None] | None,
) -> None:
    done[n] = result
    if finished is not None:
        finished(n, result)
