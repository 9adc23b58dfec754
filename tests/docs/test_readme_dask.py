"""The README's Python examples that need optional extras (a first line ``# needs: module,
...``: Dask, array-api-strict) run, as pasted into a fresh Python. CI's step 3 installs the
extras and runs this file (a skip fails it there)."""

from __future__ import annotations

import re

import pytest

from tests.docs.test_readme import README


def _needing_extras() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith("# needs:")]


def test_the_readme_has_examples_needing_extras() -> None:
    assert _needing_extras(), "the README's section on other array libraries"


@pytest.mark.parametrize("block", _needing_extras(), ids=lambda b: b.splitlines()[0][9:40])
def test_readme_blocks_needing_extras_run(block: str) -> None:
    first = block.splitlines()[0].removeprefix("# needs:").split("(")[0]
    for module in (name.strip() for name in first.split(",")):
        pytest.importorskip(module, reason=f"the README block needs {module}")
    exec(compile(block, str(README), "exec"), {})
