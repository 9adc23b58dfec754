"""Run DeZero's own test suite (the ``tests/`` folder of the book's repository, unchanged)
against the toolkit: ``import dezero`` and each ``dezero.X`` resolve through book_steps.py's
MODULES table (the same thin mapping the book's programs use), and ``import chainer`` reaches
a real Chainer in another Python through chainer_bridge.py when one is given.

    python dezero_suite_run.py DEZERO_TESTS... [--chainer-python PY] [pytest arguments...]

``PY`` is a Python with ``chainer`` and ``numpy<2`` (Chainer 7.8.1 does not import on NumPy 2;
``python -m venv V && V/bin/pip install chainer 'numpy<2'``). Without it the tests that import
Chainer fail at their import, and are counted so.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import types
from pathlib import Path

import book_steps
import chainer_bridge
import pytest

# DeZero's names that the toolkit spells otherwise: module -> {DeZero's name: the toolkit's}
RENAMED: dict[str, dict[str, str]] = {
    "dezero.functions": {"batch_nrom": "batch_norm"},  # sic: DeZero's function is misspelt
}


def install_mapping() -> None:
    """``dezero`` and every ``dezero.X`` of MODULES, aliased in ``sys.modules`` (a module with
    RENAMED names: a stand-in that gives the toolkit's under DeZero's name too)."""
    for name, target in book_steps.MODULES.items():
        module = importlib.import_module(target)
        if name in RENAMED:
            module = _renaming(module, RENAMED[name])
        sys.modules[name] = module
    for name in book_steps.MODULES:  # `import dezero.X as F` reads attribute X of dezero
        if "." in name:
            setattr(sys.modules["dezero"], name.split(".", 1)[1], sys.modules[name])


def _renaming(module: types.ModuleType, renamed: dict[str, str]) -> types.ModuleType:
    stand_in = types.ModuleType(module.__name__, module.__doc__)
    stand_in.__dict__.update(module.__dict__)
    for theirs, ours in renamed.items():
        setattr(stand_in, theirs, getattr(module, ours))
    return stand_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("tests", nargs="+", help="DeZero's tests folder, or test files")
    parser.add_argument("--chainer-python", help="a Python that imports chainer (numpy<2)")
    args, pytest_args = parser.parse_known_args(argv)
    install_mapping()
    bridge = chainer_bridge.install(args.chainer_python) if args.chainer_python else None
    try:
        with tempfile.TemporaryDirectory() as empty:
            # no cache, and none of this repository's configuration: DeZero's suite as it is
            ini = Path(empty) / "pytest.ini"
            ini.write_text("[pytest]\n", encoding="utf-8")
            first = Path(args.tests[0])
            rootdir = first if first.is_dir() else first.parent
            options = ["-p", "no:cacheprovider", "-c", str(ini), "--rootdir", str(rootdir)]
            options += ["--confcutdir", str(rootdir)]  # no conftest.py from the folders above
            return int(pytest.main([*args.tests, *options, *pytest_args]))
    finally:
        if bridge is not None:
            bridge.close()


if __name__ == "__main__":
    sys.exit(main())
