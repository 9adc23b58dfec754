"""The nn README's op table says what the registry declares: each op listed once, with the
derivative order its OpDef declares; every activation, loss and layer op is listed."""

from __future__ import annotations

import re
from pathlib import Path

from dezero_ext import get_registry
from dezero_ext_nn import activation, layer_ops, loss

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[str, int]:
    rows: dict[str, int] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z_0-9]+)` \|.*\| (\d) \|$", line)
        if match:
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = int(match[2])
    return rows


def test_the_table_lists_every_activation_loss_and_layer_op_with_its_order() -> None:
    table = _table()
    declared = {op.name: op.order for m in (activation, layer_ops, loss) for op in m.ops}
    assert len(declared) == 13
    assert table == declared
    registry = get_registry()
    for name, order in table.items():
        assert registry.get(name).order == order
