"""The checker's docs say what the code does: the declarations they show are the registered
ones, the report they show is the one printed, the exit codes and options are the real ones,
and the check's measured time is one figure wherever it is mentioned."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

from dezero_ext import Domain, OpDef, ShapeRule, Tolerance, get_registry
from dezero_ext.cli import EXIT_CODES
from dezero_ext.testing import CheckOptions, check_op
from dezero_ext.testing import pytest_plugin as plugin
from tests import mutants

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
TESTING = (ROOT / "docs" / "testing.md").read_text()
GUIDE = (ROOT / "docs" / "plugin_guide.md").read_text()
BUNDLED = {"dezero-ext", "dezero-ext-math", "dezero-ext-nn"}


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else None]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_declarations_shown_are_the_registered_ones() -> None:
    registry = get_registry()
    (block,) = [b for b in _blocks(_section(TESTING, "## 1."), "python") if "OpDef(" in b]
    namespace: dict[str, object] = {"Domain": Domain, "ShapeRule": ShapeRule}
    namespace["Tolerance"] = Tolerance
    shown: list[OpDef] = []
    namespace["OpDef"] = lambda *a, **k: shown.append(OpDef(*a, **k))
    for opdef in registry.ops().values():
        namespace[opdef.function.__name__] = opdef.function
    exec(block.replace("from dezero_ext import Domain, OpDef, ShapeRule, Tolerance", ""), namespace)
    assert {op.name for op in shown} == {"log", "div", "relu", "max"}
    for op in shown:
        real = registry.get(op.name)
        fields = ("function", "arity", "optional", "domains", "shape_rule", "order", "ties")
        for field in (*fields, "tolerance", "dtypes"):
            assert getattr(op, field) == getattr(real, field), (op.name, field)


def test_the_sample_function_shown_is_the_real_one() -> None:
    (block,) = [b for b in _blocks(TESTING, "python") if b.startswith("def _sample_pow")]
    real = get_registry().get("pow").sample
    assert real is not None
    assert block == textwrap.dedent(inspect.getsource(real))


def test_the_default_tolerances_shown_are_the_real_ones() -> None:
    t = Tolerance()
    found = re.search(r"`rtol=([\d.e-]+), atol=([\d.e-]+)`; float32 `([\d.e-]+)`", TESTING)
    assert found is not None
    shown = tuple(float(v) for v in found.groups())
    assert shown == (t.rtol, t.atol, t.rtol32) and t.rtol32 == t.atol32


def test_the_forward_tolerances_and_outside_probes_shown_are_the_real_ones() -> None:
    from dezero_ext.testing.claims import OUTSIDE_EXAMPLES
    from dezero_ext.testing.forward import FORWARD_TOLERANCE

    for dtype, tolerance in FORWARD_TOLERANCE.items():
        found = re.search(rf"`([\d.e-]+), ([\d.e-]+)` for {dtype}", TESTING)
        assert found is not None, dtype
        assert tuple(float(v) for v in found.groups()) == tolerance, dtype
    assert OUTSIDE_EXAMPLES == 10
    assert "ten examples" in TESTING and "ten examples" in GUIDE


def test_the_reference_builders_shown_exist_and_build_references() -> None:
    import numpy as np

    snippet = re.search(
        r"```python\n(import math\n\nfrom dezero_ext.ops.helpers.*?)```", GUIDE, re.S
    )
    assert snippet is not None
    space: dict[str, object] = {}
    exec(snippet.group(1), space)
    x = np.array([[0.5, -1.0, 2.0]])
    assert np.allclose(space["sin_reference"](x), np.sin(x))  # type: ignore[operator]
    assert np.allclose(space["sum_reference"](x, 1), x.sum(axis=1))  # type: ignore[operator]
    softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert np.allclose(space["softmax_reference"](x), softmax)  # type: ignore[operator]


def test_the_report_shown_is_the_one_printed() -> None:
    (block,) = [b for b in _blocks(_section(TESTING, "## 3."), "") if "gradient mismatch" in b]
    result = check_op(mutants.DOUBLED_SQUARE, options=CheckOptions(examples=60))
    assert block.rstrip("\n") == result.report


def test_the_exit_codes_shown_are_the_real_ones() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", _section(TESTING, "## 2."), flags=re.MULTILINE)
    assert {int(code) for code, _ in rows} == set(EXIT_CODES)
    for code, meaning in rows:
        assert meaning == EXIT_CODES[int(code)], code


def test_the_ini_options_shown_exist() -> None:
    real = {plugin._INI_ENABLE, plugin._INI_PLUGINS, plugin._INI_EXAMPLES, plugin._INI_TIMEOUT}
    real.add(plugin._INI_BACKEND)
    for text in (TESTING, GUIDE):
        shown = set(re.findall(r"^(dezero_ext_\w+) = ", text, flags=re.MULTILINE))
        assert shown and shown <= real, shown - real


def test_the_check_time_is_one_measured_figure_wherever_it_is_mentioned() -> None:
    pattern = r"whole registry(?:\s+in|\s+takes)?\s+about\s+(\d+)\s+s\b"
    figures = {
        name: re.findall(pattern, text)
        for name, text in (("README", README), ("testing", TESTING), ("guide", GUIDE))
    }
    assert all(figures.values()), figures
    assert len({f for found in figures.values() for f in found}) == 1, figures
    for text in (README, TESTING, GUIDE):
        assert "half a minute" not in text and "about 16 s" not in text


def test_the_op_counts_shown_are_the_registrys() -> None:
    registry = get_registry()
    bundled = [op for op in registry.ops() if registry.provider(op).distribution in BUNDLED]
    counts = re.findall(r"(\d+) bundled ops|for the (\d+) ops", _section(TESTING, "## 5."))
    assert counts
    for pair in counts:
        assert int("".join(pair)) == len(bundled), pair


@pytest.mark.parametrize("text", [README, TESTING, GUIDE], ids=["README", "testing", "guide"])
def test_no_install_line_names_an_unpublished_package(text: str) -> None:
    assert "dezero-ext[testing]" not in text


def test_the_public_api_listed_is_dezero_ext_testing_all() -> None:
    import dezero_ext.testing as testing

    table = _section(TESTING, "## 9.").split("**`CheckOptions`**")[0]
    first_cells = re.findall(r"^\| (.+?) \|", table, flags=re.MULTILINE)
    listed = {
        name
        for cell in first_cells
        for name in re.findall(r"`([A-Za-z_]+)[(`]", cell)
        if name not in {"name"}
    }
    assert listed == set(testing.__all__)
    options_table = _section(TESTING, "## 9.").split("**`CheckOptions`**")[1]
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", options_table, re.MULTILINE))
    fields = {name for pair in documented for name in pair if name}
    assert fields == set(CheckOptions.__dataclass_fields__)
