"""``dezero-ext ops``: the registered ops and the plugins providing them."""

from __future__ import annotations

import argparse
import json

from dezero_ext.cli.output import EXIT_OK, EXIT_USAGE, out, plugin_failures, table
from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, get_registry

__all__ = ["cmd_ops"]


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


def cmd_ops(args: argparse.Namespace) -> int:
    """List the registered ops; exit 2 when a plugin failed to load."""
    registry = get_registry()
    rows = [_op_row(opdef, registry) for opdef in registry.ops().values()]
    failures = plugin_failures(registry)
    if args.json:
        broken = [
            {"plugin": f.plugin, "distribution": f.distribution, "reason": f.reason}
            for f in registry.failures
        ]
        out(json.dumps({"ops": rows, "failures": broken}, indent=2))
        return EXIT_USAGE if failures else EXIT_OK
    header = ["op", "plugin", "distribution", "version", "arity", "shapes", "domain", "order"]
    grid = [header]
    for row in rows:
        domains = row["domains"]
        assert isinstance(domains, list)
        distinct = list(dict.fromkeys(domains))
        grid.append(
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
    out(table(grid))
    out(f"\n{len(rows)} ops from {len(registry.plugins())} plugins")
    return EXIT_USAGE if failures else EXIT_OK
