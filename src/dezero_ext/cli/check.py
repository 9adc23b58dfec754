"""``dezero-ext check``: the gradient checks of the selected ops (in worker processes with
``-j N``) and of ``--target`` targets, with progress on stderr, Ctrl-C printing what was
checked, and the table or JSON of the results."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from dezero_ext.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SIGNAL,
    EXIT_USAGE,
    StreamedTable,
    err,
    out,
    plugin_failures,
)
from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, UnknownOpError, UnknownPluginError, get_registry
from dezero_ext.testing.options import CheckOptions

if TYPE_CHECKING:
    from dezero_ext.testing.cluster import Client
    from dezero_ext.testing.parallel import Interrupts
    from dezero_ext.testing.protocol import Declaration, Target
    from dezero_ext.testing.runner import OpCheckResult

__all__ = ["AUTO_JOBS", "cmd_check", "jobs_for"]

_NAMED: Final = 8  # ops named in a one-line message; the rest are counted
AUTO_JOBS: Final = 0  # -j auto: chosen by jobs_for when the check starts
_HYPOTHESIS_HOME: Final = "HYPOTHESIS_STORAGE_DIRECTORY"
_INSTALL_HYPOTHESIS: Final = (
    "pip install 'hypothesis>=6.100' (from a checkout of dezero-ext: pip install -e '.[testing]')"
)


def _options(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(
        ops=tuple(args.ops),
        plugins=tuple(args.plugin or ()),
        examples=args.examples,
        max_order=args.order,
        seed=args.seed,
        full_jacobian=args.full_jacobian,
        timeout=args.timeout,
        stress=args.stress,
        traced=args.traced,
        backend=args.backend,
    )


@contextlib.contextmanager
def _hypothesis_storage() -> Iterator[None]:
    """Keep Hypothesis's files (its cache of source constants) out of the working directory:
    in the user's cache directory, unless ``HYPOTHESIS_STORAGE_DIRECTORY`` says where."""
    if os.environ.get(_HYPOTHESIS_HOME):
        yield
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ[_HYPOTHESIS_HOME] = str(cache / "dezero-ext" / "hypothesis")
    try:
        yield
    finally:
        del os.environ[_HYPOTHESIS_HOME]


@contextlib.contextmanager
def _interrupts(jobs: int) -> Iterator[Interrupts]:
    from dezero_ext.testing.parallel import Interrupts

    def notice() -> None:  # in the signal handler: os.write, as print may be mid-write
        what = "the check in progress" if jobs == 1 else "the checks in progress"
        line = f"\ndezero-ext: interrupted; finishing {what} (Ctrl-C again to stop now)\n"
        with contextlib.suppress(OSError):
            os.write(2, line.encode())

    with Interrupts(notice=notice).installed() as interrupts:
        yield interrupts


@contextlib.contextmanager
def _tracebacks_on_sigusr1() -> Iterator[None]:
    """For the duration, ``kill -USR1 PID`` prints on stderr where each thread of the command
    is (``faulthandler``; the worker processes of ``-j N`` do the same), and the run goes on:
    how to see where a run that seems stuck waits."""
    usr1 = getattr(signal, "SIGUSR1", None)
    try:
        if usr1 is not None:
            faulthandler.register(usr1, all_threads=True)
    except (AttributeError, OSError, ValueError):  # stderr is no file (captured): no dump
        usr1 = None
    try:
        yield
    finally:
        if usr1 is not None:
            faulthandler.unregister(usr1)


def jobs_for(cpus: int, load: float) -> int:
    """``-j auto``: one worker process per idle CPU (``cpus`` this process may run on, less the
    1-minute ``load`` average, rounded), and 1 (the checks in this process, no worker) when
    fewer than one and a half are idle. Linux schedules the processes of one session as one
    (autogroup): on a busy machine N workers get the CPU time one process would, and pay for
    their start-up (the whole registry: 3% more CPU time, and no faster)."""
    return max(1, min(cpus, round(cpus - load)))


def _auto_jobs() -> int:
    """``jobs_for`` this machine now, said on stderr."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): all CPUs taken as idle
        load = 0.0
    jobs = jobs_for(cpus, load)
    processes = "1 process (this one)" if jobs == 1 else f"{jobs} worker processes"
    err(f"dezero-ext check: -j auto: {processes}; {cpus} CPUs, load average {load:.2f}")
    return jobs


def _say_capped_orders(order: int | None, specs: Sequence[Declaration]) -> None:
    """One line on stderr when ``--order`` is above what some ops declare: each of them is
    checked up to its declared order (a backward declared once-differentiable has no
    second derivative to check)."""
    below = [spec for spec in specs if order is not None and spec.order < order]
    if not below:
        return
    named = ", ".join(f"{spec.name} ({spec.order})" for spec in below[:_NAMED])
    more = f" and {len(below) - _NAMED} more" if len(below) > _NAMED else ""
    err(
        f"dezero-ext check: --order {order} is above the order declared by {named}{more}; "
        "each is checked up to its declared order"
    )


def _orders(orders: Sequence[int]) -> str:
    if not orders:
        return "not run"
    return f"order {orders[0]}" if len(orders) == 1 else f"orders {orders[0]}-{orders[-1]}"


def _load_targets(references: list[str]) -> list[Target]:
    """The targets named ``module:attr`` (``--target``); a ``TargetLoadError`` says why not."""
    from dezero_ext.testing.loading import load_targets

    if references and os.getcwd() not in sys.path:  # MODULE is found from where it runs
        sys.path.insert(0, os.getcwd())
    return [t for reference in references for t in load_targets(reference)]


def _run_targets(
    targets: list[Target],
    options: CheckOptions,
    interrupts: Interrupts,
    count: int,
    first: int,
    table: StreamedTable | None,
) -> list[OpCheckResult]:
    """Check the ``--target`` targets in this process, after the ops."""
    from dezero_ext.testing import check_op

    results = []
    for n, target in enumerate(targets, first + 1):
        if interrupts.stopping:
            break
        head = f"[{n}/{count}] {target.source} ({_orders(options.orders_for(target.spec))}) ..."
        print(head, end="", file=sys.stderr, flush=True)
        result = check_op(target, options)
        err(f" {result.verdict} ({result.seconds:.1f}s)")
        if table is not None:
            table.add(n - 1, _row(result))
        results.append(result)
    return results


def _run(
    registry: OpRegistry,
    ops: list[OpDef],
    targets: list[Target],
    options: CheckOptions,
    jobs: int,
    table: StreamedTable | None,
    cluster: Client | None = None,
) -> tuple[list[OpCheckResult], int | None]:
    """Check each op (in ``jobs`` processes, or on the Dask ``cluster``), then each target,
    with progress on stderr and each row of the ``table`` (if any) on stdout as it is known;
    return the results and the signal that stopped the run (SIGINT: Ctrl-C), if any."""
    jobs = jobs if cluster is None else 0  # (progress as with -j N: a line per op done)
    from dezero_ext.testing.parallel import check_ops

    done: dict[int, OpCheckResult] = {}
    count = len(ops) + len(targets)

    def started(n: int, opdef: OpDef) -> None:
        if jobs == 1:
            head = f"[{n + 1}/{count}] {opdef.name} ({_orders(options.orders_for(opdef))}) ..."
            print(head, end="", file=sys.stderr, flush=True)

    def finished(n: int, result: OpCheckResult) -> None:
        done[n] = result
        tail = f" {result.verdict} ({result.seconds:.1f}s)"
        if jobs == 1:
            err(tail)
        else:
            err(f"[{len(done)}/{count}] {result.op} ({_orders(result.orders)}){tail}")
        if table is not None:
            table.add(n, _row(result))

    with _interrupts(jobs) as interrupts, _tracebacks_on_sigusr1():
        try:
            if cluster is None:
                results = check_ops(
                    ops,
                    options,
                    plugins=lambda op: registry.provider(op.name).name,
                    jobs=jobs,
                    interrupts=interrupts,
                    started=started,
                    finished=finished,
                )
            else:  # one task per op on a Dask cluster (testing/cluster.py)
                from dezero_ext.testing.cluster import check_on_cluster

                results = check_on_cluster(
                    ops,
                    options,
                    scheduler=cluster,
                    plugins=lambda op: registry.provider(op.name).name,
                    interrupts=interrupts,
                    started=started,
                    finished=finished,
                )
            for result in _run_targets(targets, options, interrupts, count, len(ops), table):
                done[len(done)] = result
                results.append(result)
        except KeyboardInterrupt:
            signum = interrupts.signum or signal.SIGINT
            by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
            err(f"\ndezero-ext: stopped{by}")
            return [done[n] for n in sorted(done)], signum
    # (a stop a __del__ swallowed, the run then ending first, is still the signal's)
    return results, interrupts.signum or (signal.SIGINT if interrupts.stopping else None)


def _print_json(
    results: list[OpCheckResult],
    failures: list[str],
    seconds: float,
    passed: bool,
    interrupted: bool,
    backend: str = "numpy",
) -> None:
    rows = [
        {
            "op": r.op,
            "plugin": r.plugin,
            "orders": list(r.orders),
            "examples": r.examples,
            "kink_hits": r.kink_hits,
            "worst_rel_error": r.worst_rel_error,
            "seconds": round(r.seconds, 3),
            "verdict": r.verdict,
            "report": r.report or None,
        }
        for r in results
    ]
    document = {
        "ops": rows,
        "passed": passed,
        "interrupted": interrupted,
        "seconds": round(seconds, 3),
        "plugin_failures": failures,
        "backend": backend,
    }
    out(json.dumps(document, indent=2))


_HEADER: Final = ["op", "plugin", "orders", "examples", "kink hits", "worst rel err", "verdict"]


def _row(r: OpCheckResult) -> list[str]:
    orders = ",".join(map(str, r.orders))
    rel = f"{r.worst_rel_error:.1e}"
    return [r.op, r.plugin or "-", orders, str(r.examples), str(r.kink_hits), rel, r.verdict]


def _streamed_table(
    registry: OpRegistry, ops: list[OpDef], targets: list[Target], options: CheckOptions
) -> StreamedTable:
    """The results table with its widths known before any op is checked."""
    specs = [*ops, *(t.spec for t in targets)]
    names = [*(op.name for op in ops), *(t.spec.name for t in targets)]
    plugins = [registry.provider(op.name).name for op in ops]
    orders = [",".join(map(str, options.orders_for(spec))) for spec in specs]
    widths = [max(map(len, column), default=0) for column in (names, plugins, orders)]
    return StreamedTable(_HEADER, [*widths, 0, 0, 7, 0])


def _print_table(
    table: StreamedTable,
    results: list[OpCheckResult],
    broken: list[str],
    seconds: float,
    selected: int,
    stopped: bool,
) -> None:
    table.finish([_row(r) for r in results])  # the rows not streamed yet (Ctrl-C, -j N)
    failed = [r for r in results if not r.passed]
    for r in failed:
        out(f"\n== {r.op}: {r.verdict}")
        out(r.report)
    verdict = f"{len(failed)} of {len(results)} ops FAILED" if failed else "all passed"
    skipped = sum(r.verdict == "n/a" for r in results)
    if skipped:  # --backend: ops that do not declare it are not applicable, not failed
        verdict += f"; {skipped} n/a (the backend not declared)"
    if broken:
        verdict += f"; {_count(len(broken), 'plugin')} failed to load (see above)"
    if stopped:
        verdict += f"; INTERRUPTED after {len(results)} of {selected} ops"
    examples = sum(r.examples for r in results)
    out(
        f"\n{_count(len(results), 'op')} checked, {_count(examples, 'example')}, "
        f"{seconds:.1f}s: {verdict}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _NoClusterError(Exception):
    """``--scheduler`` cannot be used: the message says why."""


def _connect(scheduler: str, jobs: int) -> Client:
    """The Dask client of ``--scheduler``; ``_NoClusterError`` says why it cannot be had."""
    if jobs != 1:
        raise _NoClusterError(
            "-j and --scheduler exclude each other (the cluster's workers are the processes)"
        )
    from dezero_ext.testing.cluster import ClusterError, connect

    try:
        return connect(scheduler)
    except ClusterError as exc:
        raise _NoClusterError(str(exc)) from None


def _load_backend(name: str) -> None:
    """The array library of ``--backend`` can be imported (and CuPy has a GPU), or a
    ``ValueError`` says what to install."""
    if name == "numpy":
        return
    from dezero_ext.testing.backends import BackendUnavailableError, get_backend

    try:
        get_backend(name)
    except BackendUnavailableError as exc:
        raise ValueError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    """Check the gradients of the registered ops against numerical differentiation."""
    try:
        import hypothesis  # noqa: F401 - the checks need it; say so before anything runs
    except ImportError as exc:
        err(f"dezero-ext check: needs Hypothesis ({exc}): {_INSTALL_HYPOTHESIS}")
        return EXIT_USAGE
    from dezero_ext.testing.loading import TargetLoadError

    registry = get_registry()
    try:
        options = _options(args)
        _load_backend(options.backend)
    except ValueError as exc:  # --backend with --stress or --traced; not installed
        err(f"dezero-ext check: {exc}")
        return EXIT_USAGE
    # --target alone checks only the targets; with OP or --plugin, those ops too
    only_targets = bool(args.target) and options.whole_registry
    try:
        ops = [] if only_targets else options.select(registry)
        targets = _load_targets(args.target or [])
    except (UnknownOpError, TargetLoadError) as exc:
        err(f"dezero-ext check: {exc}")
        return EXIT_USAGE
    if not ops and not targets:
        err("dezero-ext check: no op is registered")
        return EXIT_USAGE
    _say_capped_orders(args.order, [*ops, *(t.spec for t in targets)])
    try:
        cluster = None if args.scheduler is None else _connect(args.scheduler, args.jobs)
    except _NoClusterError as exc:
        err(f"dezero-ext check: {exc}")
        return EXIT_USAGE
    table = None if args.json else _streamed_table(registry, ops, targets, options)
    start = time.perf_counter()
    try:
        with _hypothesis_storage():
            jobs = args.jobs if args.jobs != AUTO_JOBS else _auto_jobs()
            results, stopped_by = _run(registry, ops, targets, options, jobs, table, cluster)
    finally:
        if cluster is not None:
            cluster.close()
    interrupted = stopped_by is not None
    seconds = time.perf_counter() - start
    failures = plugin_failures(registry)
    # A plugin that failed to load has unchecked ops: that fails a check of the whole registry;
    # a plugin name nothing has (a misspelled DEZERO_EXT_PLUGINS) fails any check, as in `ops`.
    whole = options.whole_registry and not only_targets
    broken = [str(f) for f in registry.failures if whole or isinstance(f, UnknownPluginError)]
    failed = not all(r.passed for r in results)
    passed = not (failed or broken or interrupted)
    if args.json:
        _print_json(results, failures, seconds, passed, interrupted, options.backend)
    else:
        assert table is not None
        _print_table(table, results, broken, seconds, len(ops) + len(targets), interrupted)
    if stopped_by is not None:
        return EXIT_SIGNAL + stopped_by  # 130 (Ctrl-C), 143 (SIGTERM), 129 (SIGHUP)
    return EXIT_FAILED if failed else EXIT_USAGE if broken else EXIT_OK
