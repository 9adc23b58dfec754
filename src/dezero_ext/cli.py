"""The ``dezero-ext`` command (also ``python -m dezero_ext``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, get_registry

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dezero-ext",
        description="dezero_ext: list the registered ops and check their gradients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ops = sub.add_parser("ops", help="list the registered ops and the plugins providing them")
    ops.add_argument("--json", action="store_true", help="machine-readable output")
    ops.set_defaults(handler=cmd_ops)
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
