"""``dezero-ext ops --markdown``: the op table as Markdown, and the tables a document carries
between marker comments, regenerated in place (``--update FILE``).

A document marks where a table goes with the options that select its ops::

    <!-- ops-table:begin --plugin dezero-ext-math -->
    ...generated, replaced by --update...
    <!-- ops-table:end -->

so docs/ops.md and each plugin's README carry the table the declarations say, and one test
(``tests/docs/test_ops_tables.py``) fails when they drift apart."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Final

from dezero_ext.opdef import Domain, OpDef

__all__ = ["BEGIN", "END", "markdown_table", "update_tables"]

BEGIN: Final = "<!-- ops-table:begin"
END: Final = "<!-- ops-table:end -->"
_BLOCK: Final = re.compile(
    r"^(?P<begin><!-- ops-table:begin(?P<options>[^\n]*?)-->)\n.*?^<!-- ops-table:end -->$",
    flags=re.MULTILINE | re.DOTALL,
)
_NONE: Final = "\u2013"  # an en dash: an empty cell that reads as "none"
_HEADER: Final = (
    "op",
    "module",
    "inputs",
    "parameters",
    "domain checked",
    "order",
    "dtypes",
    "forward checked",
    "jvp",
    "description",
)

Select = Callable[[Sequence[str]], list[OpDef]]
"""The ops of the plugins named (every op when none is): how ``--plugin`` selects."""


def markdown_table(ops: Sequence[OpDef]) -> str:
    """One Markdown table of ``ops``: name, module, inputs, parameters, checked domain (with
    kinks, their rule, ties and what happens outside), order, dtypes, what the forward is
    checked against (a reference, error inputs) and the one-line description."""
    lines = [_row(_HEADER), _row(("---",) * len(_HEADER))]
    lines += [_row(_cells(op)) for op in ops]
    return "\n".join(lines)


def update_tables(text: str, select: Select, where: str) -> str:
    """``text`` with each marked table regenerated from ``select`` (``where`` names the
    document in errors); a ``ValueError`` when it has no marker or a marker is unclosed."""
    blocks = list(_BLOCK.finditer(text))
    begins, ends = (len(re.findall(f"^{re.escape(m)}", text, re.MULTILINE)) for m in (BEGIN, END))
    if begins != len(blocks) or ends != len(blocks):  # a marker quoted inside a line is text
        raise ValueError(
            f"{where}: an '{BEGIN} ... -->' marker without its '{END}', or the reverse"
        )
    if not blocks:
        raise ValueError(
            f"{where}: no op table to update; mark its place with '{BEGIN} --plugin NAME -->' "
            f"and '{END}' on lines of their own"
        )
    pieces: list[str] = []
    last = 0
    for block in blocks:
        plugins = _plugins(block["options"], where)
        pieces += [text[last : block.start()], block["begin"], "\n"]
        pieces += [markdown_table(select(plugins)), "\n", END]
        last = block.end()
    return "".join([*pieces, text[last:]])


def _plugins(options: str, where: str) -> list[str]:
    """The plugin names of a marker's ``--plugin NAME`` options."""
    words = options.split()
    if len(words) % 2 or any(flag != "--plugin" for flag in words[::2]):
        raise ValueError(
            f"{where}: marker '{BEGIN}{options}-->': only '--plugin NAME' options are allowed"
        )
    return words[1::2]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _cells(op: OpDef) -> tuple[str, ...]:
    return (
        f"`{op.name}`",
        f"`{op.function.__module__.rpartition('.')[2]}`",
        op.arity_text,
        _parameters(op),
        _domains(op),
        str(op.order),
        ", ".join(op.dtypes),
        _forward(op),
        op.jvp_rule,
        # ``e**x / sum(e**x)`` would render in bold between the two ``**``
        op.description.replace("*", "\\*") or _NONE,
    )


def _forward(op: OpDef) -> str:
    """What the forward is checked against: its ``reference``, its error inputs."""
    parts = ["reference"] if op.reference is not None else []
    if op.error_inputs:
        n = len(op.error_inputs)
        parts.append(f"{n} error input{'s' if n > 1 else ''}")
    return ", ".join(parts) or _NONE


def _parameters(op: OpDef) -> str:
    params = op.parameters
    if params is None:
        return "any keyword"
    shown = [
        f"`{p.name}`" if p.default is inspect.Parameter.empty else f"`{p.name}={p.default!r}`"
        for p in params
    ]
    return ", ".join(shown) or _NONE


def _domains(op: OpDef) -> str:
    domains = op.domains  # one per input (OpDef repeats a single one)
    if len(set(domains)) == 1:
        text = _domain(domains[0])
    else:
        text = "; ".join(f"x{i} {_domain(d)}" for i, d in enumerate(domains))
    return text if op.ties == "none" else f'{text}; `ties="{op.ties}"`'


def _domain(domain: Domain) -> str:
    text = domain.describe()
    return f'{text} (`kink_rule="{domain.kink_rule}"`)' if domain.kinks else text
