"""The ``dezero-ext`` command (also ``python -m dezero_ext``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, UnknownOpError, get_registry

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
                str(row["arity"]),
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


def _select(registry: OpRegistry, names: Sequence[str], plugins: Sequence[str]) -> list[OpDef]:
    """The ops named, or all; narrowed to the given plugins (plugin or distribution names)."""
    ops = [registry.get(name) for name in names] if names else list(registry.ops().values())
    if plugins:
        known = {p.name for p in registry.plugins()} | {
            p.distribution for p in registry.plugins() if p.distribution
        }
        unknown = [p for p in plugins if p not in known]
        if unknown:
            raise UnknownOpError(
                f"no plugin named {unknown[0]!r}; installed: {', '.join(sorted(known))}"
            )
        ops = [
            op
            for op in ops
            if {registry.provider(op.name).name, registry.provider(op.name).distribution}
            & set(plugins)
        ]
    return ops


def cmd_check(args: argparse.Namespace) -> int:
    """Check the gradients of the registered ops against numerical differentiation."""
    try:
        from dezero_ext.testing import check_op
    except ImportError as exc:  # hypothesis is an optional dependency
        print(
            f"dezero-ext check needs Hypothesis ({exc}); install it with "
            "pip install 'dezero-ext[testing]'",
            file=sys.stderr,
        )
        return 2
    registry = get_registry()
    try:
        ops = _select(registry, args.ops, args.plugin or [])
    except UnknownOpError as exc:
        print(f"dezero-ext check: {exc}", file=sys.stderr)
        return 2
    if not ops:
        print("dezero-ext check: no op selected", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = []
    for n, opdef in enumerate(ops, 1):
        plugin = registry.provider(opdef.name).name
        top = opdef.order if args.order is None else min(args.order, opdef.order)
        print(f"[{n}/{len(ops)}] {opdef.name} (orders 1-{top}) ...", end="", file=sys.stderr)
        sys.stderr.flush()
        result = check_op(
            opdef,
            orders=range(1, top + 1),
            examples=args.examples,
            seed=args.seed,
            plugin=plugin,
        )
        print(f" {result.verdict} ({result.seconds:.1f}s)", file=sys.stderr)
        results.append(result)
    seconds = time.perf_counter() - start
    failed = [r for r in results if not r.passed]
    if args.json:
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
                "report": str(r.failure) if r.failure is not None else r.error,
            }
            for r in results
        ]
        out = {"ops": rows, "passed": not failed, "seconds": round(seconds, 3)}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 1 if failed else 0
    table = [["op", "plugin", "orders", "examples", "kink hits", "worst rel err", "verdict"]]
    for r in results:
        table.append(
            [
                r.op,
                str(r.plugin),
                ",".join(map(str, r.orders)),
                str(r.examples),
                str(r.kink_hits),
                f"{r.worst_rel_error:.1e}",
                r.verdict,
            ]
        )
    print(_table(table))
    for r in failed:
        print(f"\n== {r.op}: {r.verdict}")
        print(str(r.failure) if r.failure is not None else r.error)
    verdict = f"{len(failed)} of {len(results)} ops FAILED" if failed else "all passed"
    print(
        f"\n{len(results)} ops checked, {sum(r.examples for r in results)} examples, "
        f"{seconds:.1f}s: {verdict}"
    )
    return 1 if failed else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dezero-ext",
        description="dezero_ext: list the registered ops and check their gradients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ops = sub.add_parser("ops", help="list the registered ops and the plugins providing them")
    ops.add_argument("--json", action="store_true", help="machine-readable output")
    ops.set_defaults(handler=cmd_ops)
    check = sub.add_parser(
        "check",
        help="check every op's gradients against numerical differentiation (Hypothesis)",
        description="Property-based gradient checks of the registered ops: inputs drawn from "
        "each op's Domain, backward compared with central differences, first order and the "
        "higher orders the op declares. Exits 1 when an op fails.",
    )
    check.add_argument("ops", nargs="*", metavar="OP", help="ops to check (default: all)")
    check.add_argument(
        "--plugin", action="append", metavar="NAME", help="only the ops of this plugin"
    )
    check.add_argument(
        "--examples",
        type=_positive,
        default=25,
        metavar="N",
        help="examples per op and derivative order (default: 25)",
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
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=cmd_check)
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
