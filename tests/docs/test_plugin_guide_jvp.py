"""The plugin guide's forward-mode section says what the code does: the rule it shows is the
plugin example's (type-checked with the tests), the checker proves it, and the report it shows
for a wrong rule is the one the checker prints (the same lines; the numbers are the example's)."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dezero_ext import Domain, OpDef, Variable
from dezero_ext.ops import exp
from dezero_ext.testing.jvpcheck import JvpCheckError, check_jvp
from tests.plugin_example.softplus import SoftPlus

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "plugin_guide.md").read_text()
SECTION = GUIDE[GUIDE.index("### Optional: a forward-mode rule (JVP)") :]
SECTION = SECTION[: SECTION.index("\n### ", 10)]
X = [np.array([-1.5, 0.25, 2.0])]


class WrongSoftPlus(SoftPlus):
    """The guide's wrong rule: ``exp(x)`` written for ``exp(-x)``."""

    def jvp(self, tx: Variable) -> Variable:
        (x,) = self.inputs
        return tx / (1 + exp(x))

    jvp_array = None  # type: ignore[assignment]  # the Variable rule is the one under check


def _op(function: type[SoftPlus]) -> OpDef:
    return OpDef("softplus", function, domains=(Domain(-5.0, 5.0),), order=2)


def test_the_rule_shown_is_the_plugin_examples_and_is_proven() -> None:
    (block,) = re.findall(r"```python\n(def jvp\(.*?)```", SECTION, flags=re.DOTALL)
    source = textwrap.dedent(inspect.getsource(SoftPlus.jvp) + "\n\n")
    source += textwrap.dedent(inspect.getsource(SoftPlus.jvp_array))
    assert block.strip() == source.strip()
    check_jvp(_op(SoftPlus), X, {}, seed=7)


def test_the_report_shown_is_the_one_printed() -> None:
    (shown,) = re.findall(r"```\n(forward-mode rule check failed.*?)```", SECTION, re.DOTALL)
    with pytest.raises(JvpCheckError) as caught:
        check_jvp(_op(WrongSoftPlus), X, {}, seed=7)
    assert caught.value.side == "jvp"
    number = r"-?[\d.]+(?:e-?\d+)?"
    printed = re.sub(number, "N", str(caught.value).replace("WrongSoftPlus", "SoftPlus"))
    assert printed.strip() == re.sub(number, "N", shown).strip()
