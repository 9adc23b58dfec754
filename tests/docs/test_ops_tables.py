"""The op tables of docs/ops.md and the plugin READMEs are ``dezero-ext ops --markdown``'s
output, regenerated here from the declarations; and the command that writes them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from dezero_ext import get_registry
from dezero_ext.cli import main
from dezero_ext.cli.markdown import update_tables
from dezero_ext.opdef import OpDef
from dezero_ext.testing.options import CheckOptions

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {
    "docs/ops.md": ["--plugin dezero-ext", "--plugin dezero-ext-math"],
    "plugins/dezero-ext-math/README.md": ["--plugin dezero-ext-math"],
    "plugins/dezero-ext-nn/README.md": ["--plugin dezero-ext-nn"],
}
REGENERATE = "dezero-ext ops --update " + " ".join(DOCUMENTS)


def _select(plugins: Sequence[str]) -> list[OpDef]:
    return CheckOptions(plugins=tuple(plugins)).select(get_registry())


@pytest.mark.parametrize("path", list(DOCUMENTS))
def test_the_documents_carry_the_tables_the_declarations_give(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    markers = re.findall(r"^<!-- ops-table:begin (.*?) -->$", text, flags=re.MULTILINE)
    assert markers == DOCUMENTS[path], f"{path}: its op tables are for {markers}"
    assert update_tables(text, _select, path) == text, (
        f"{path}: an op table differs from the declarations; regenerate the tables with: "
        f"{REGENERATE}"
    )


def _rows(text: str) -> dict[str, list[str]]:
    """``{op: cells}`` of a Markdown op table (an escaped ``\\|`` stays in its cell)."""
    rows = {}
    for line in text.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def test_markdown_prints_one_row_per_op_with_its_declaration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ops", "--markdown"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert header.startswith("| op | module | inputs | parameters | domain checked | order |")
    rows = _rows(out)
    registry = get_registry()
    assert set(rows) == set(registry.ops())
    for name, cells in rows.items():
        assert len(cells) == 10, cells
        assert cells[5] == str(registry.get(name).order)
        assert ("reference" in cells[7]) is (registry.get(name).reference is not None), cells
        has_rule = registry.get(name).function.jvp is not None
        assert cells[8] == ("native" if has_rule else "fallback"), cells
    assert rows["abs"][8] == "native" and rows["batch_norm"][8] == "native"
    assert rows["abs"][9] == "\\|x\\|; abs'(0) = 0"  # a | in a cell is escaped
    assert rows["abs"][4] == '[-2, 2] kinks 0 (`kink_rule="mean"`)'
    assert rows["max"][4] == '[-3, 3] distinct; `ties="split"`'
    assert rows["div"][4] == "x0 [-3, 3]; x1 [-3, 3] excl 0"
    assert rows["linear"][2] == "2-3"
    assert rows["sum"][3] == "`axis=None`, `keepdims=False`"
    assert rows["sin"][7] == "reference" and rows["flatten"][7] == "\u2013"
    assert rows["sum"][7] == "reference, 1 error input"
    assert rows["softmax"][9] == "e\\*\\*x / sum(e\\*\\*x) along axis"  # no bold in between


def test_plugin_restricts_the_listing_to_a_plugin_or_distribution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ops", "--markdown", "--plugin", "math"]) == 0
    math = set(_rows(capsys.readouterr().out))
    assert main(["ops", "--markdown", "--plugin", "dezero-ext-math"]) == 0
    assert set(_rows(capsys.readouterr().out)) == math
    assert {"sin", "logsumexp", "clip"} <= math and "exp" not in math
    assert main(["ops", "--plugin", "math"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(math)} ops from 1 plugin"
    assert main(["ops", "--plugin", "no-such-plugin"]) == 2
    assert "no plugin named 'no-such-plugin'; installed:" in capsys.readouterr().err


def test_update_rewrites_only_the_marked_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(
        "# My plugin\n\n<!-- ops-table:begin --plugin math -->\n| stale |\n"
        "<!-- ops-table:end -->\n\nText after.\n",
        encoding="utf-8",
    )
    assert main(["ops", "--update", str(doc)]) == 0
    assert capsys.readouterr().out == f"{doc}: updated\n"
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# My plugin\n\n<!-- ops-table:begin --plugin math -->\n| op |")
    assert text.endswith("|\n<!-- ops-table:end -->\n\nText after.\n")
    quoted = text + "\nQuote the markers inline: `<!-- ops-table:begin -->`.\n"
    doc.write_text(quoted, encoding="utf-8")
    assert main(["ops", "--update", str(doc)]) == 0
    assert capsys.readouterr().out == f"{doc}: up to date\n"
    doc.write_text(text, encoding="utf-8")
    assert "stale" not in text and "| `sin` |" in text and "| `exp` |" not in text
    assert main(["ops", "--update", str(doc)]) == 0
    assert capsys.readouterr().out == f"{doc}: up to date\n"
    assert doc.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("no table here\n", "no op table to update"),
        ("<!-- ops-table:begin --plugin math -->\n| stale |\n", "without its"),
        ("<!-- ops-table:begin --sort -->\n<!-- ops-table:end -->\n", "only '--plugin NAME'"),
        (
            "<!-- ops-table:begin --plugin nope -->\n<!-- ops-table:end -->\n",
            "no plugin named 'nope'",
        ),
        ("<!-- ops-table:end -->\n", "without its"),
    ],
)
def test_update_refuses_a_document_it_cannot_update_and_leaves_it_as_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(content, encoding="utf-8")
    assert main(["ops", "--update", str(doc)]) == 2
    assert message in capsys.readouterr().err
    assert doc.read_text(encoding="utf-8") == content


def test_update_takes_the_plugins_from_the_markers_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "README.md"
    doc.write_text("<!-- ops-table:begin -->\n<!-- ops-table:end -->\n", encoding="utf-8")
    assert main(["ops", "--update", str(doc), "--plugin", "math"]) == 2
    assert "not with --plugin" in capsys.readouterr().err
