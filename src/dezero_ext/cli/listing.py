"""``dezero-ext ops``: the registered ops and the plugins providing them, as a table, JSON or
Markdown (``cli/markdown.py``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from dezero_ext.cli.markdown import Select, markdown_table, update_tables
from dezero_ext.cli.output import EXIT_OK, EXIT_USAGE, err, out, plugin_failures, table
from dezero_ext.opdef import OpDef
from dezero_ext.registry import OpRegistry, UnknownOpError, get_registry
from dezero_ext.testing.options import CheckOptions

__all__ = ["cmd_ops"]


def _shape_rule(opdef: OpDef) -> str:
    return "sample" if opdef.sample is not None else opdef.shape_rule.value


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
        "shape_rule": _shape_rule(opdef),
        "domains": [d.describe() for d in opdef.domains],
        "order": opdef.order,
        "dtypes": list(opdef.dtypes),
        "description": opdef.description,
        "reference": _reference_name(opdef),
        "error_inputs": [e.describe() for e in opdef.error_inputs],
        "jvp": opdef.jvp_rule,
        "backends": list(opdef.backends),
    }


def _reference_name(opdef: OpDef) -> str | None:
    """The reference's name (``None`` without one)."""
    if opdef.reference is None:
        return None
    return str(getattr(opdef.reference, "__name__", None) or type(opdef.reference).__name__)


def _claims(opdef: OpDef) -> str:
    """What the forward is checked against besides the gradients: ``ref``, ``N err``."""
    parts = ["ref"] if opdef.reference is not None else []
    if opdef.error_inputs:
        parts.append(f"{len(opdef.error_inputs)} err")
    return ", ".join(parts) or "-"


def cmd_ops(args: argparse.Namespace) -> int:
    """List the registered ops (``--plugin``: those of some plugins) as a table, JSON or
    Markdown, or regenerate the Markdown tables of documents (``--update``); exit 2 when a
    plugin failed to load."""
    registry = get_registry()
    failures = plugin_failures(registry)

    def select(plugins: Sequence[str]) -> list[OpDef]:
        return CheckOptions(plugins=tuple(plugins)).select(registry)

    try:
        if args.update:
            return _update(args.update, select, refuse=bool(failures or args.plugin))
        ops = select(args.plugin or ())
    except UnknownOpError as exc:
        err(f"dezero-ext ops: {exc}")
        return EXIT_USAGE
    if args.markdown:
        out(markdown_table(ops))
    elif args.json:
        _json(ops, registry)
    else:
        _table(ops, registry, whole=not args.plugin)
    return EXIT_USAGE if failures else EXIT_OK


def _update(paths: Sequence[str], select: Select, *, refuse: bool) -> int:
    """Regenerate the marked op tables of each document in place."""
    if refuse:
        err(
            "dezero-ext ops --update: not with --plugin (each marker names its plugins) nor "
            "with a plugin that failed to load (its ops would vanish from the tables)"
        )
        return EXIT_USAGE
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            updated = update_tables(text, select, path)
            if updated != text:
                Path(path).write_text(updated, encoding="utf-8")
        except (OSError, ValueError) as exc:
            err(f"dezero-ext ops --update: {exc}")
            return EXIT_USAGE
        except UnknownOpError as exc:  # a marker names a plugin that is not installed
            err(f"dezero-ext ops --update: {path}: {exc}")
            return EXIT_USAGE
        out(f"{path}: {'updated' if updated != text else 'up to date'}")
    return EXIT_OK


def _json(ops: Sequence[OpDef], registry: OpRegistry) -> None:
    rows = [_op_row(opdef, registry) for opdef in ops]
    broken = [
        {"plugin": f.plugin, "distribution": f.distribution, "reason": f.reason}
        for f in registry.failures
    ]
    out(json.dumps({"ops": rows, "failures": broken}, indent=2))


def _table(ops: Sequence[OpDef], registry: OpRegistry, *, whole: bool) -> None:
    header = ["op", "plugin", "distribution", "version", "arity", "shapes", "domain", "order"]
    header += ["forward", "jvp", "backends"]
    grid = [header]
    for opdef in ops:
        info = registry.provider(opdef.name)
        grid.append(
            [
                opdef.name,
                info.name,
                info.distribution or "-",
                info.version or "-",
                opdef.arity_text,
                _shape_rule(opdef),
                " | ".join(dict.fromkeys(d.describe() for d in opdef.domains)),
                str(opdef.order),
                _claims(opdef),
                opdef.jvp_rule,
                ",".join(opdef.backends),
            ]
        )
    out(table(grid))
    plugins = registry.plugins() if whole else {registry.provider(op.name) for op in ops}
    out(f"\n{len(ops)} ops from {len(plugins)} plugin{'s' if len(plugins) != 1 else ''}")
