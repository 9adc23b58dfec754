"""docs/ops.md documents every built-in and math-plugin op, with the order it declares."""

from __future__ import annotations

import re
from pathlib import Path

from dezero_ext import get_registry

OPS_MD = Path(__file__).resolve().parents[2] / "docs" / "ops.md"
DOCUMENTED_DISTRIBUTIONS = ("dezero-ext", "dezero-ext-math")


def _table_rows() -> dict[str, int]:
    """``{op: order}`` from the rows of the tables in docs/ops.md."""
    rows: dict[str, int] = {}
    for line in OPS_MD.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z][a-z0-9_]*)` \|.*\| (\d) \|$", line)
        if match:
            rows[match.group(1)] = int(match.group(2))
    return rows


def test_every_builtin_and_math_op_is_in_the_table_with_its_declared_order() -> None:
    registry = get_registry()
    rows = _table_rows()
    checked = 0
    for name, opdef in registry.ops().items():
        if registry.provider(name).distribution not in DOCUMENTED_DISTRIBUTIONS:
            continue
        checked += 1
        assert name in rows, f"{name} is missing from docs/ops.md"
        assert rows[name] == opdef.order, (
            f"{name}: docs say order {rows[name]}, OpDef {opdef.order}"
        )
    assert checked >= 39  # 25 built-ins and 14 math ops at least


def test_the_table_lists_no_op_that_is_not_registered() -> None:
    registry = get_registry()
    stale = sorted(set(_table_rows()) - set(registry.ops()))
    assert not stale, f"docs/ops.md lists unregistered ops: {stale}"
