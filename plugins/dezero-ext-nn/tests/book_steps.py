"""The book's 60 step programs (book/steps/, vendored unchanged from
oreilly-japan/deep-learning-from-scratch-3 at b5f3cf1, MIT: book/LICENSE.md) run with only
their imports changed, through one table (MODULES) that maps each ``dezero`` module to the
toolkit's.

``rewrite`` changes the import lines and nothing else; ``run_step`` executes the rewritten
program with ``QUICK``'s shorter loops when asked (each a named line of the book, replaced
whole), with ``np.random`` seeded, and collects what it printed. Where matplotlib is not
installed ``import matplotlib.pyplot as plt`` becomes a recorder of the calls
(``PlotRecorder``): the pictures are not what is checked, the numbers printed are.

As a script: ``python book_steps.py 45`` runs step 45 as the book has it (``--quick`` for the
short loops, ``--show`` prints the rewritten program); ``python book_steps.py --reference
DLFS3 OUT.json`` runs every step on the book's own ``dezero`` (the repository's folder DLFS3)
with the same loops and seed, writing what each printed: book/dezero_outputs.json was made so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BOOK = Path(__file__).parent / "book"
STEPS = BOOK / "steps"
OUTPUTS = BOOK / "dezero_outputs.json"

# The thin import mapping: DeZero's module -> the module the program imports instead.
MODULES: dict[str, str] = {
    "dezero": "book_dezero",  # dezero_ext_nn, plus DeZero's simple-core switch (book_dezero.py)
    "dezero.core_simple": "book_dezero",
    "dezero.functions": "dezero_ext_nn.functions",
    "dezero.layers": "dezero_ext_nn.layers",
    "dezero.models": "dezero_ext_nn.models",
    "dezero.optimizers": "dezero_ext_nn.optimizers",
    "dezero.datasets": "dezero_ext_nn.datasets",
    "dezero.dataloaders": "dezero_ext_nn.dataloaders",
    "dezero.transforms": "dezero_ext_nn.transforms",
    "dezero.cuda": "dezero_ext_nn.cuda",
    "dezero.utils": "dezero_ext_nn.utils",
}

# Shorter loops for a quick run (the test's; the reference outputs use the same): the book's
# line, and the line that replaces it.
QUICK: dict[int, tuple[tuple[str, str], ...]] = {
    43: (("iters = 10000", "iters = 1000"),),
    44: (("iters = 10000", "iters = 1000"),),
    45: (("max_iter = 10000", "max_iter = 1000"),),
    46: (("max_iter = 10000", "max_iter = 1000"),),
    48: (("max_epoch = 300", "max_epoch = 30"), ("h = 0.001", "h = 0.01")),
    49: (("max_epoch = 300", "max_epoch = 30"),),
    50: (("max_epoch = 300", "max_epoch = 30"),),
    51: (("max_epoch = 5", "max_epoch = 2"),),
    52: (("max_epoch = 5", "max_epoch = 2"),),
    53: (("max_epoch = 3", "max_epoch = 1"),),
    59: (("max_epoch = 100", "max_epoch = 2"),),
    60: (("max_epoch = 100", "max_epoch = 2"),),
}

_IMPORT = re.compile(r"^(?P<indent>\s*)import (?P<module>dezero(?:\.\w+)?)(?: as (?P<alias>\w+))?$")
_FROM = re.compile(r"^(?P<indent>\s*)from (?P<module>dezero(?:\.\w+)?) import (?P<names>.+)$")
_PYPLOT = "import matplotlib.pyplot as plt"


class PlotRecorder:
    """``matplotlib.pyplot``'s stand-in: each call's name and positional arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: object, **kwargs: object) -> None:
            self.calls.append((name, args))

        return record


def source(step: int) -> str:
    """The book's program, as vendored."""
    return (STEPS / f"step{step:02d}.py").read_text(encoding="utf-8")


def rewrite(text: str, *, dezero: bool = True) -> str:
    """``text`` with each ``dezero`` import mapped through MODULES (when ``dezero``) and
    matplotlib's pyplot replaced by the recorder the runner passes as ``__plt__``."""
    lines = []
    for line in text.splitlines():
        if dezero and (m := _IMPORT.match(line)):
            alias = m["alias"] or m["module"]
            if "." in alias:
                raise ValueError(f"no mapping for an unaliased submodule import: {line!r}")
            line = f"{m['indent']}import {MODULES[m['module']]} as {alias}"
        elif dezero and (m := _FROM.match(line)):
            line = f"{m['indent']}from {MODULES[m['module']]} import {m['names']}"
        elif line.strip() == _PYPLOT:
            line = line.replace(_PYPLOT, "plt = __plt__")
        lines.append(line)
    return "\n".join(lines) + "\n"


def shorten(text: str, step: int) -> str:
    """``text`` with QUICK's shorter loops for ``step``."""
    for old, new in QUICK.get(step, ()):
        if text.count(old) != 1:
            raise ValueError(f"step {step}: {old!r} is not one line of the program")
        text = text.replace(old, new)
    return text


@dataclass
class Run:
    """What a step printed, its globals, its plot calls, and its unittest result if it has
    TestCases (step 10)."""

    printed: str
    namespace: dict[str, object]
    plot: PlotRecorder
    error: Exception | None = field(default=None)
    tests: unittest.TestResult | None = field(default=None)

    def record(self) -> str:
        """What it printed, and how it ended if it raised (as in book/dezero_outputs.json)."""
        ending = "" if self.error is None else f"<raised {type(self.error).__name__}>\n"
        return self.printed + ending


def run_step(step: int, *, quick: bool = True, dezero: bool = True, seed: int = 0) -> Run:
    """Run the book's ``step`` with its imports mapped (``dezero=False``: as the book has
    them, for the reference), ``np.random`` seeded with ``seed``, in the current directory;
    an exception the program raises is kept in ``Run.error``."""
    text = rewrite(source(step), dezero=dezero)
    if quick:
        text = shorten(text, step)
    plot = PlotRecorder()
    path = STEPS / f"step{step:02d}.py"
    # __file__ as a script has it: the book's preamble imports os and sys under that test (step
    # 53 uses os), and appends a folder to sys.path, put back as it was after the run
    namespace: dict[str, object] = {"__name__": "__main__", "__file__": str(path), "__plt__": plot}
    out = io.StringIO()
    np.random.seed(seed)
    run = Run("", namespace, plot)
    saved_path = list(sys.path)
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(text, str(path), "exec"), namespace)
        except Exception as e:  # noqa: BLE001  # the caller judges it (step 9 raises by design)
            run.error = e
        finally:
            sys.path[:] = saved_path
    run.printed = out.getvalue()
    cases = [
        v for v in namespace.values() if isinstance(v, type) and issubclass(v, unittest.TestCase)
    ]
    if cases:
        suite = unittest.TestSuite(
            unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in cases
        )
        run.tests = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    return run


def _reference(root: Path, out: Path, steps: list[int]) -> None:
    sys.path.insert(0, str(root))
    outputs = {
        "_about": f"what each step printed on the book's own dezero ({root}), with QUICK's "
        f"loops, np.random.seed(0), matplotlib's pyplot recorded; NumPy {np.__version__}"
    }
    for step in steps:
        outputs[str(step)] = run_step(step, dezero=False).record()
    out.write_text(json.dumps(outputs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", nargs="*", type=int)
    parser.add_argument("--quick", action="store_true", help="the shorter loops of QUICK")
    parser.add_argument("--show", action="store_true", help="print the rewritten program")
    parser.add_argument("--reference", nargs=2, metavar=("DLFS3", "OUT"), type=Path)
    args = parser.parse_args(argv)
    steps = args.step or list(range(1, 61))
    if args.reference:
        root, out = args.reference
        _reference(root, out, steps)
        return
    for step in steps:
        if args.show:
            print(rewrite(source(step)))
        else:
            print(run_step(step, quick=args.quick).record(), end="")


if __name__ == "__main__":
    main()
