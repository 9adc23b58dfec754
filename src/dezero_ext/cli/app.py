"""The ``dezero-ext`` command line: its parser, and ``main``, which turns every error into one
line on stderr and an exit status (``EXIT_CODES``), never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType

from dezero_ext import __version__, _startup
from dezero_ext.cli.check import AUTO_JOBS, cmd_check
from dezero_ext.cli.listing import cmd_ops
from dezero_ext.cli.markdown import BEGIN, END
from dezero_ext.cli.output import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_PIPE,
    EXIT_SIGNAL,
    EXIT_USAGE,
    OutputError,
    err,
)
from dezero_ext.core.backend import BACKENDS
from dezero_ext.registry import OpConflictError, PluginError, PluginLoadWarning
from dezero_ext.testing.options import DEFAULT_EXAMPLES, DEFAULT_TIMEOUT

__all__ = ["build_parser", "main"]


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
        return AUTO_JOBS  # chosen when the check starts, from the CPUs idle then
    return _positive(text)


def _epilog() -> str:
    lines = ["exit status:"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``dezero-ext`` parser: ``--version``, ``ops`` and ``check``."""
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
    ops.add_argument(
        "--plugin",
        action="append",
        metavar="NAME",
        help="the ops of this plugin, plugin or distribution name (repeatable)",
    )
    form = ops.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="machine-readable output")
    form.add_argument(
        "--markdown",
        action="store_true",
        help="one Markdown table: op, module, inputs, parameters, domain, order, dtypes, "
        "description (what docs/ops.md and the plugin READMEs carry)",
    )
    form.add_argument(
        "--update",
        nargs="+",
        metavar="FILE",
        help=f"regenerate the Markdown tables of each FILE in place, each table between a "
        f"'{BEGIN} --plugin NAME -->' line and a '{END}' line",
    )
    ops.set_defaults(handler=cmd_ops)
    _add_check_command(sub)
    return parser


def _add_check_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="check every op's gradients against numerical differentiation (Hypothesis)",
        description="Property-based gradient checks of the registered ops: inputs drawn from "
        "each op's Domain, backward compared with central differences, first order and the "
        "higher orders the op declares; each example again with a subset of its inputs "
        "passed as constants; then every input 0-d, size-0 dimensions and broadcasting "
        "extremes (explicit examples); then the declared error inputs and outside-domain "
        "behaviour. --stress checks large inputs instead (docs/testing.md). Ctrl-C finishes "
        "the op in progress and prints what was checked (twice: stops at once); SIGTERM and "
        "SIGHUP stop at once, end the worker processes and print what was checked.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_selection_arguments(check)
    _add_run_arguments(check)
    check.set_defaults(handler=cmd_check)


def _add_selection_arguments(check: argparse.ArgumentParser) -> None:
    """What ``dezero-ext check`` checks: ops, plugins, targets."""
    check.add_argument("ops", nargs="*", metavar="OP", help="ops to check (default: all)")
    check.add_argument(
        "--plugin",
        action="append",
        metavar="NAME",
        help="the ops of this plugin, plugin or distribution name (repeatable)",
    )
    check.add_argument(
        "--target",
        action="append",
        metavar="MODULE:ATTR",
        help="check this target too (an adapter's torch_target/jax_target/dezero_target, any "
        "Target or OpDef, or a list of them), instead of the registry unless OP or --plugin "
        "is given (repeatable; checked in this process, after the ops)",
    )


def _add_run_arguments(check: argparse.ArgumentParser) -> None:
    """How ``dezero-ext check`` checks: examples, orders, seed, time limit, workers, output."""
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
        "--stress",
        action="store_true",
        help="instead: large inputs (over 10^4 elements, the shapes each op's rule allows), "
        "checked by random projections vᵀJu only, in each declared dtype against a float64 "
        "reference, about 2 s per op (ops with a sample function are skipped)",
    )
    check.add_argument(
        "--traced",
        action="store_true",
        help="also check, on every drawn example, that dezero_ext.trace of the op gives the "
        "op's output and gradients bit for bit (recording, replay, replay with other values)",
    )
    check.add_argument(
        "--backend",
        default="numpy",
        choices=BACKENDS,
        metavar="NAME",
        help="run each op on this array library: numpy (default), array-api-strict, dask "
        "(two chunks per axis; a graph computed before the checker asks is a failure) or cupy; "
        "the examples are drawn in NumPy and moved there, the results compared with NumPy's; "
        "an op that does not declare the backend is n/a",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"time limit of each op's check, 0 for none (default: {DEFAULT_TIMEOUT:g} s at "
        f"{DEFAULT_EXAMPLES} examples, in proportion to --examples, x5 with --full-jacobian, x5 "
        "with --backend dask); "
        "an op that runs out is a TIMEOUT naming the phase, and the run goes on",
    )
    check.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="check the ops in N worker processes ('auto': one per idle CPU, from the load "
        "average; none when no CPU is idle); the results are those of -j 1 (default: 1)",
    )
    check.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="check the ops on the Dask distributed cluster of this scheduler (tcp://host:8786), "
        "one task per op; the results are those of -j 1 (needs dask[distributed]; "
        "docs/testing.md)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (captured output)
        pass


class _Stopped(BaseException):
    """SIGTERM or SIGHUP outside the run of the checks (which handles its own): stop now."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _stopping() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``_Stopped`` for the duration (in the main thread): a
    command writing its output, perhaps blocked on a reader that stopped reading, ends at
    once with 143 or 129 and no traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = [signal.signal(signum, _stop) for signum in signums]
    try:
        yield
    finally:
        for signum, handler in zip(signums, previous, strict=True):
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (``EXIT_CODES``)."""
    try:
        return _main(argv)
    finally:  # for the interpreter's exit: a Ctrl-C is one line again, not a traceback
        _startup.quiet_exit()


def _main(argv: Sequence[str] | None) -> int:
    try:
        _startup.restore()  # a Ctrl-C is a KeyboardInterrupt again, caught below
        args = build_parser().parse_args(argv)
        handler = args.handler
        assert callable(handler)
        # The commands say which plugins were skipped, once, in their own words (plugin_failures).
        warnings.filterwarnings("ignore", category=PluginLoadWarning)
        with _stopping():
            status = handler(args)
            assert isinstance(status, int)
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise OutputError(exc) from exc
        return status
    except _Stopped as stop:  # what was not written yet is dropped: the reader may be gone
        _discard_stdout()
        err(f"\ndezero-ext: stopped by {signal.Signals(stop.signum).name}")
        return EXIT_SIGNAL + stop.signum
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_PIPE
    except OutputError as exc:
        _discard_stdout()
        err(f"dezero-ext: cannot write the output: {exc}")
        return EXIT_OUTPUT
    except (PluginError, OpConflictError) as exc:
        err(f"dezero-ext: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("\ndezero-ext: interrupted")
        return EXIT_INTERRUPTED
