"""The README's Python examples run and print what the README says they print. A block whose
first line is ``# needs: module, ...`` (optional extras: Dask, array-api-strict) runs in
test_readme_dask.py, which CI's step 3 runs with the extras installed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run_and_print_what_they_claim() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has Python examples"
    for block in blocks:
        if block.startswith("# needs:"):
            continue  # test_readme_dask.py
        namespace: dict[str, object] = {}  # each block runs alone, pasted into a fresh Python
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), namespace)
        printed = out.getvalue().splitlines()
        claimed = [
            m.group(1) for m in re.finditer(r"print\(.*\)  # (?:.*= )?(variable\(.*\))", block)
        ]
        assert printed == claimed, block
