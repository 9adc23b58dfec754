"""The ``dezero-ext`` command (also ``python -m dezero_ext``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, UnknownOpError, get_registry
from dezero_ext.testing.options import DEFAULT_EXAMPLES, CheckOptions

if TYPE_CHECKING:
    from dezero_ext.testing.runner import OpCheckResult
    from dezero_ext.testing.target import Target

__all__ = ["main"]


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


def cmd_ops(args: argparse.Namespace) -> int:
    """List the registered ops."""
    registry = get_registry()
    rows = [_op_row(opdef, registry) for opdef in registry.ops().values()]
    if args.json:
        failures = [
            {"plugin": f.plugin, "distribution": f.distribution, "reason": f.reason}
            for f in registry.failures
        ]
        json.dump({"ops": rows, "failures": failures}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
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
    print(_table(table))
    plugins = registry.plugins()
    print(f"\n{len(rows)} ops from {len(plugins)} plugins")
    for failure in registry.failures:
        print(f"skipped: {failure}", file=sys.stderr)
    return 0


def _options(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(
        ops=tuple(args.ops),
        plugins=tuple(args.plugin or ()),
        examples=args.examples,
        max_order=args.order,
        seed=args.seed,
        full_jacobian=args.full_jacobian,
    )


def _check_each(
    checks: list[tuple[str, OpDef | Target, str | None]], options: CheckOptions
) -> list[OpCheckResult]:
    """``check_op`` on each ``(label, op or target, plugin)``, with progress on stderr."""
    from dezero_ext.testing import check_op

    results = []
    for n, (label, target, plugin) in enumerate(checks, 1):
        spec = target if isinstance(target, OpDef) else target.spec
        orders = options.orders(spec)
        print(f"[{n}/{len(checks)}] {label} (orders 1-{orders[-1]}) ...", end="", file=sys.stderr)
        sys.stderr.flush()
        result = check_op(
            target,
            orders=orders,
            examples=options.examples,
            seed=options.seed,
            plugin=plugin,
            full_jacobian=options.full_jacobian,
        )
        print(f" {result.verdict} ({result.seconds:.1f}s)", file=sys.stderr)
        results.append(result)
    return results


def _targets(references: list[str]) -> list[Target] | None:
    """The targets named ``module:attr`` (``--target``); None after a usage error."""
    from dezero_ext.testing.loading import TargetLoadError, load_targets

    if os.getcwd() not in sys.path:  # MODULE is found from where the command runs
        sys.path.insert(0, os.getcwd())
    try:
        return [t for reference in references for t in load_targets(reference)]
    except TargetLoadError as exc:
        print(f"dezero-ext check: {exc}", file=sys.stderr)
        return None


def _report(result: OpCheckResult) -> str | None:
    return str(result.failure) if result.failure is not None else result.error


def _print_json(
    results: list[OpCheckResult], broken: list[str], failures: list[str], seconds: float
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
            "report": _report(r),
        }
        for r in results
    ]
    passed = all(r.passed for r in results) and not broken
    out = {"ops": rows, "passed": passed, "seconds": round(seconds, 3), "plugin_failures": failures}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_table(results: list[OpCheckResult], broken: list[str], seconds: float) -> None:
    table = [["op", "plugin", "orders", "examples", "kink hits", "worst rel err", "verdict"]]
    for r in results:
        orders = ",".join(map(str, r.orders))
        rel = f"{r.worst_rel_error:.1e}"
        table.append(
            [r.op, r.plugin or "-", orders, str(r.examples), str(r.kink_hits), rel, r.verdict]
        )
    print(_table(table))
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"\n== {r.op}: {r.verdict}")
        print(_report(r))
    verdict = f"{len(failed)} of {len(results)} ops FAILED" if failed else "all passed"
    if broken:
        verdict += f"; {len(broken)} plugin(s) failed to load (see above)"
    print(
        f"\n{len(results)} ops checked, {sum(r.examples for r in results)} examples, "
        f"{seconds:.1f}s: {verdict}"
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Check the gradients of the registered ops against numerical differentiation."""
    try:
        import hypothesis  # noqa: F401 - the checks need it; say so before anything runs
    except ImportError as exc:
        print(
            f"dezero-ext check needs Hypothesis ({exc}); install it with "
            "pip install 'dezero-ext[testing]'",
            file=sys.stderr,
        )
        return 2
    registry = get_registry()
    options = _options(args)
    # --target alone checks only the targets; with OP or --plugin, those ops too
    only_targets = bool(args.target) and options.whole_registry
    try:
        ops = [] if only_targets else options.select(registry)
    except UnknownOpError as exc:
        print(f"dezero-ext check: {exc}", file=sys.stderr)
        return 2
    if not ops and not args.target:
        print("dezero-ext check: no op selected", file=sys.stderr)
        return 2
    targets = _targets(args.target or [])
    if targets is None:
        return 2
    checks: list[tuple[str, OpDef | Target, str | None]] = [
        (op.name, op, registry.provider(op.name).name) for op in ops
    ]
    checks += [(t.source, t, None) for t in targets]
    start = time.perf_counter()
    results = _check_each(checks, options)
    seconds = time.perf_counter() - start
    for failure in registry.failures:
        print(f"skipped: {failure}", file=sys.stderr)
    # A plugin that failed to load has unchecked ops: that fails a check of the whole registry.
    failures = [str(f) for f in registry.failures]
    broken = failures if options.whole_registry and not only_targets else []
    if args.json:
        _print_json(results, broken, failures, seconds)
    else:
        _print_table(results, broken, seconds)
    return 1 if broken or not all(r.passed for r in results) else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_check_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="check every op's gradients against numerical differentiation (Hypothesis)",
        description="Property-based gradient checks of the registered ops: inputs drawn from "
        "each op's Domain, backward compared with central differences, first order and the "
        "higher orders the op declares. Exits 1 when an op fails.",
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
        "is given (repeatable)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=cmd_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dezero-ext",
        description="dezero_ext: list the registered ops and check their gradients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ops = sub.add_parser("ops", help="list the registered ops and the plugins providing them")
    ops.add_argument("--json", action="store_true", help="machine-readable output")
    ops.set_defaults(handler=cmd_ops)
    _add_check_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    assert callable(handler)
    status = handler(args)
    assert isinstance(status, int)
    return status


if __name__ == "__main__":
    sys.exit(main())
