"""docs/frameworks.md: the Python examples of each framework's section run as written (a
section is skipped when its framework is not installed)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "frameworks.md"
SECTIONS = {"1. PyTorch": "torch", "2. JAX": "jax", "3. DeZero 0.0.13": "dezero"}


def _blocks(section: str) -> list[str]:
    text = DOC.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


@pytest.mark.parametrize(("section", "framework"), SECTIONS.items(), ids=list(SECTIONS.values()))
def test_the_examples_of_each_framework_run(section: str, framework: str) -> None:
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed")
    blocks = _blocks(section)
    assert blocks, f"{section} has Python examples"
    namespace: dict[str, object] = {"__name__": f"frameworks_doc_{framework}"}
    for block in blocks:  # one session per section, as a reader runs them
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, str(DOC), "exec"), namespace)


def test_the_torch_report_quoted_is_the_one_printed() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    (example, *_) = _blocks("1. PyTorch")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(DOC), "exec"), {"__name__": "frameworks_doc_report"})
    printed = out.getvalue().splitlines()
    after = DOC.read_text().split(example, 1)[1]
    match = re.match(r"```\n\n```\n(.*?)```", after, flags=re.DOTALL)
    assert match, "the report follows the example"
    quoted = match.group(1).splitlines()
    assert quoted[0] == printed[0]
    assert [line for line in quoted if line.strip() != "..."] == [
        line for line in printed if line in quoted
    ]


def test_the_pytorch_cpu_build_is_installed_with_a_command_given() -> None:
    # pip install '.[torch]' alone resolves the CUDA build on Linux (18 nvidia wheels): the
    # doc gives the command that installs the CPU build first, in a block a user can paste.
    text = DOC.read_text()
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)).splitlines()
    cpu = [n for n, line in enumerate(shell) if "--index-url" in line and "whl/cpu" in line]
    extra = [n for n, line in enumerate(shell) if "[torch]" in line and "pip install" in line]
    assert cpu and extra and cpu[0] < extra[0], shell
    assert shell[cpu[0]].startswith("pip install torch ")
    assert ".ci/run" in text  # what CI does instead, and why it differs
