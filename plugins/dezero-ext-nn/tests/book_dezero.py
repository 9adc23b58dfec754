"""What ``import dezero`` becomes in the book's programs (book_steps.py): the toolkit's top
level, ``dezero_ext_nn``, plus the two names of DeZero's top level that only its teaching
switch uses (steps 28 and 29 ask ``dezero.is_simple_core`` and then import
``dezero.core_simple``'s ``Variable`` and ``setup_variable``). dezero_ext has one core, whose
``Variable`` has its operators from the start, so ``setup_variable`` has nothing to do.
"""

from __future__ import annotations

import dezero_ext_nn
from dezero_ext import Variable

__all__ = ["Variable", "is_simple_core", "setup_variable"]

is_simple_core = False


def setup_variable() -> None:
    """DeZero's ``core_simple.setup_variable`` installs the operators on its simple
    ``Variable``; dezero_ext's has them already."""


def __getattr__(name: str) -> object:
    # everything else is the toolkit's own name (datasets, no_grad, Model, ...)
    return getattr(dezero_ext_nn, name)
