"""The ``dezero-ext`` command (also ``python -m dezero_ext``).

Exit status (``EXIT_CODES``): 0 every check passed, 1 a check failed, 2 a usage error or a
plugin that failed to load or conflicts with another, 74 the output could not be written,
130 interrupted, 141 the output pipe was closed. Errors are one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from dezero_ext import __version__
from dezero_ext.opdef import OpDef
from dezero_ext.registry import (
    OpConflictError,
    OpRegistry,
    PluginError,
    UnknownOpError,
    get_registry,
)
from dezero_ext.testing.options import DEFAULT_EXAMPLES, DEFAULT_TIMEOUT, CheckOptions

if TYPE_CHECKING:
    from dezero_ext.testing.parallel import Interrupts
    from dezero_ext.testing.runner import OpCheckResult
    from dezero_ext.testing.target import Target

__all__ = ["EXIT_CODES", "main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_OUTPUT: Final = 74  # EX_IOERR in sysexits.h
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, what a shell reports
EXIT_PIPE: Final = 141  # 128 + SIGPIPE

EXIT_CODES: Final = {
    EXIT_OK: "every op checked passed (ops: the listing was printed)",
    EXIT_FAILED: "an op failed its check (FAIL, ERROR or TIMEOUT)",
    EXIT_USAGE: "a usage error, or a plugin failed to load or declares an op another one does",
    EXIT_OUTPUT: "the output could not be written (a full disk, a closed file)",
    EXIT_INTERRUPTED: "interrupted with Ctrl-C; the ops checked so far are printed",
    EXIT_PIPE: "the output pipe was closed (dezero-ext ops | head -1): nothing more is written",
}

_HYPOTHESIS_HOME: Final = "HYPOTHESIS_STORAGE_DIRECTORY"
_INSTALL_HYPOTHESIS: Final = (
    "pip install 'hypothesis>=6.100' (from a checkout of dezero-ext: pip install -e '.[testing]')"
)


class _OutputError(Exception):
    """Writing the standard output failed (other than a closed pipe)."""


def _out(text: str = "") -> None:
    """Print ``text`` on stdout; a failure to write is an ``_OutputError``."""
    try:
        sys.stdout.write(text + "\n")
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _OutputError(exc) from exc


def _err(text: str) -> None:
    """A line on stderr, which may be gone too (then it is dropped)."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def _op_row(opdef: OpDef, registry: OpRegistry) -> dict[str, object]:
    info = registry.provider(opdef.name)
    return {
        "name": opdef.name,
        "plugin": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "builtin": info.builtin,
        "arity": opdef.arity,
        "optional": opdef.optional,
        "arity_text": opdef.arity_text,
        "outputs": "many" if opdef.multi_output else 1,
        "shape_rule": "sample" if opdef.sample is not None else opdef.shape_rule.value,
        "domains": [d.describe() for d in opdef.domains],
        "order": opdef.order,
        "dtypes": list(opdef.dtypes),
        "description": opdef.description,
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _plugin_failures(registry: OpRegistry) -> list[str]:
    failures = [str(f) for f in registry.failures]
    for failure in failures:
        _err(f"dezero-ext: skipped {failure}")
    return failures


def cmd_ops(args: argparse.Namespace) -> int:
    """List the registered ops; exit 2 when a plugin failed to load."""
    registry = get_registry()
    rows = [_op_row(opdef, registry) for opdef in registry.ops().values()]
    failures = _plugin_failures(registry)
    if args.json:
        broken = [
            {"plugin": f.plugin, "distribution": f.distribution, "reason": f.reason}
            for f in registry.failures
        ]
        _out(json.dumps({"ops": rows, "failures": broken}, indent=2))
        return EXIT_USAGE if failures else EXIT_OK
    header = ["op", "plugin", "distribution", "version", "arity", "shapes", "domain", "order"]
    table = [header]
    for row in rows:
        domains = row["domains"]
        assert isinstance(domains, list)
        distinct = list(dict.fromkeys(domains))
        table.append(
            [
                str(row["name"]),
                str(row["plugin"]),
                str(row["distribution"] or "-"),
                str(row["version"] or "-"),
                str(row["arity_text"]),
                str(row["shape_rule"]),
                " | ".join(distinct),
                str(row["order"]),
            ]
        )
    _out(_table(table))
    _out(f"\n{len(rows)} ops from {len(registry.plugins())} plugins")
    return EXIT_USAGE if failures else EXIT_OK


def _options(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(
        ops=tuple(args.ops),
        plugins=tuple(args.plugin or ()),
        examples=args.examples,
        max_order=args.order,
        seed=args.seed,
        full_jacobian=args.full_jacobian,
        timeout=args.timeout,
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

    def notice() -> None:
        what = "the check in progress" if jobs == 1 else "the checks in progress"
        _err(f"\ndezero-ext: interrupted; finishing {what} (Ctrl-C again to stop now)")

    interrupts = Interrupts(notice=notice)
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)


def _orders(orders: Sequence[int]) -> str:
    if not orders:
        return "not run"
    return f"order {orders[0]}" if len(orders) == 1 else f"orders {orders[0]}-{orders[-1]}"


def _load_targets(references: list[str]) -> list[Target]:
    """The targets named ``module:attr`` (``--target``); a ``TargetLoadError`` says why not."""
    from dezero_ext.testing.loading import load_targets

    return [t for reference in references for t in load_targets(reference)]


def _run_targets(
    targets: list[Target], options: CheckOptions, interrupts: Interrupts, count: int, first: int
) -> list[OpCheckResult]:
    """Check the ``--target`` targets in this process, after the ops."""
    from dezero_ext.testing import check_op

    results = []
    for n, target in enumerate(targets, first + 1):
        if interrupts.stopping:
            break
        top = target.spec.order if options.max_order is None else options.max_order
        orders = tuple(range(1, min(top, target.spec.order) + 1))
        print(f"[{n}/{count}] {target.source} ...", end="", file=sys.stderr, flush=True)
        result = check_op(
            target,
            orders=orders,
            examples=options.examples,
            seed=options.seed,
            full_jacobian=options.full_jacobian,
            timeout=options.time_limit,
        )
        _err(f" {result.verdict} ({result.seconds:.1f}s)")
        results.append(result)
    return results


def _run(
    registry: OpRegistry,
    ops: list[OpDef],
    targets: list[Target],
    options: CheckOptions,
    jobs: int,
) -> tuple[list[OpCheckResult], bool]:
    """Check each op (in ``jobs`` processes), then each target, with progress on stderr;
    return the results and whether Ctrl-C stopped the run."""
    from dezero_ext.testing.parallel import check_ops

    done: dict[int, OpCheckResult] = {}
    count = len(ops) + len(targets)

    def started(n: int, opdef: OpDef) -> None:
        if jobs == 1:
            head = f"[{n + 1}/{count}] {opdef.name} ({_orders(options.orders(opdef))}) ..."
            print(head, end="", file=sys.stderr, flush=True)

    def finished(n: int, result: OpCheckResult) -> None:
        done[n] = result
        tail = f" {result.verdict} ({result.seconds:.1f}s)"
        if jobs == 1:
            _err(tail)
        else:
            _err(f"[{len(done)}/{count}] {result.op} ({_orders(result.orders)}){tail}")

    with _interrupts(jobs) as interrupts:
        try:
            results = check_ops(
                ops,
                options,
                plugins=lambda op: registry.provider(op.name).name,
                jobs=jobs,
                interrupts=interrupts,
                started=started,
                finished=finished,
            )
            for result in _run_targets(targets, options, interrupts, count, len(ops)):
                done[len(done)] = result
                results.append(result)
        except KeyboardInterrupt:
            _err("\ndezero-ext: stopped")
            return [done[n] for n in sorted(done)], True
    return results, interrupts.stopping


def _print_json(
    results: list[OpCheckResult],
    failures: list[str],
    seconds: float,
    passed: bool,
    interrupted: bool,
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
    out = {
        "ops": rows,
        "passed": passed,
        "interrupted": interrupted,
        "seconds": round(seconds, 3),
        "plugin_failures": failures,
    }
    _out(json.dumps(out, indent=2))


def _print_table(
    results: list[OpCheckResult], broken: list[str], seconds: float, selected: int, stopped: bool
) -> None:
    table = [["op", "plugin", "orders", "examples", "kink hits", "worst rel err", "verdict"]]
    for r in results:
        orders = ",".join(map(str, r.orders))
        rel = f"{r.worst_rel_error:.1e}"
        table.append(
            [r.op, r.plugin or "-", orders, str(r.examples), str(r.kink_hits), rel, r.verdict]
        )
    if results:
        _out(_table(table))
    failed = [r for r in results if not r.passed]
    for r in failed:
        _out(f"\n== {r.op}: {r.verdict}")
        _out(r.report)
    verdict = f"{len(failed)} of {len(results)} ops FAILED" if failed else "all passed"
    if broken:
        verdict += f"; {len(broken)} plugin(s) failed to load (see above)"
    if stopped:
        verdict += f"; INTERRUPTED after {len(results)} of {selected} ops"
    _out(
        f"\n{len(results)} ops checked, {sum(r.examples for r in results)} examples, "
        f"{seconds:.1f}s: {verdict}"
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Check the gradients of the registered ops against numerical differentiation."""
    try:
        import hypothesis  # noqa: F401 - the checks need it; say so before anything runs
    except ImportError as exc:
        _err(f"dezero-ext check: needs Hypothesis ({exc}): {_INSTALL_HYPOTHESIS}")
        return EXIT_USAGE
    from dezero_ext.testing.loading import TargetLoadError

    registry = get_registry()
    options = _options(args)
    # --target alone checks only the targets; with OP or --plugin, those ops too
    only_targets = bool(args.target) and options.whole_registry
    try:
        ops = [] if only_targets else options.select(registry)
        targets = _load_targets(args.target or [])
    except (UnknownOpError, TargetLoadError) as exc:
        _err(f"dezero-ext check: {exc}")
        return EXIT_USAGE
    if not ops and not targets:
        _err("dezero-ext check: no op is registered")
        return EXIT_USAGE
    start = time.perf_counter()
    with _hypothesis_storage():
        results, interrupted = _run(registry, ops, targets, options, args.jobs)
    seconds = time.perf_counter() - start
    failures = _plugin_failures(registry)
    # A plugin that failed to load has unchecked ops: that fails a check of the whole registry.
    broken = failures if options.whole_registry and not only_targets else []
    failed = not all(r.passed for r in results)
    passed = not (failed or broken or interrupted)
    if args.json:
        _print_json(results, failures, seconds, passed, interrupted)
    else:
        _print_table(results, broken, seconds, len(ops) + len(targets), interrupted)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_USAGE if broken else EXIT_OK


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _jobs(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return _positive(text)


def _epilog() -> str:
    lines = ["exit status:"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dezero-ext",
        description="dezero_ext: list the registered ops and check their gradients.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ops = sub.add_parser(
        "ops",
        help="list the registered ops and the plugins providing them",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ops.add_argument("--json", action="store_true", help="machine-readable output")
    ops.set_defaults(handler=cmd_ops)
    check = sub.add_parser(
        "check",
        help="check every op's gradients against numerical differentiation (Hypothesis)",
        description="Property-based gradient checks of the registered ops: inputs drawn from "
        "each op's Domain, backward compared with central differences, first order and the "
        "higher orders the op declares. Ctrl-C finishes the op in progress and prints what "
        "was checked (twice: stops at once).",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("ops", nargs="*", metavar="OP", help="ops to check (default: all)")
    check.add_argument(
        "--plugin",
        action="append",
        metavar="NAME",
        help="the ops of this plugin, plugin or distribution name (repeatable)",
    )
    check.add_argument(
        "--examples",
        type=_positive,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help="examples per op and derivative order (default: %(default)s)",
    )
    check.add_argument(
        "--order",
        type=_positive,
        metavar="K",
        help="check derivative orders up to K (default: each op's declared order)",
    )
    check.add_argument(
        "--seed", type=int, help="a random seed (default: derandomized, the same every run)"
    )
    check.add_argument(
        "--full-jacobian",
        action="store_true",
        help="compare every Jacobian entry on every example, not only a random projection",
    )
    check.add_argument(
        "--target",
        action="append",
        metavar="MODULE:ATTR",
        help="check this target too (an adapter's torch_target/jax_target/dezero_target, any "
        "Target or OpDef, or a list of them), instead of the registry unless OP or --plugin "
        "is given (repeatable; checked in this process, after the ops)",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"time limit of each op's check, 0 for none (default: {DEFAULT_TIMEOUT:g} s at "
        f"{DEFAULT_EXAMPLES} examples, in proportion to --examples, x5 with --full-jacobian); "
        "an op that runs out is a TIMEOUT naming the phase, and the run goes on",
    )
    check.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="check the ops in N worker processes ('auto': one per CPU); the results are "
        "those of -j 1 (default: 1)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=cmd_check)
    return parser


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (captured output)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (``EXIT_CODES``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    assert callable(handler)
    try:
        status = handler(args)
        assert isinstance(status, int)
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc) from exc
        return status
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_PIPE
    except _OutputError as exc:
        _discard_stdout()
        _err(f"dezero-ext: cannot write the output: {exc}")
        return EXIT_OUTPUT
    except (PluginError, OpConflictError) as exc:
        _err(f"dezero-ext: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("\ndezero-ext: interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
