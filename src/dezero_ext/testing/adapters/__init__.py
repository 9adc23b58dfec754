"""Adapters: another framework's functions as checker targets, checked by the same
property-based gradient checks as a dezero_ext op (``check_op``, ``check_gradients``,
``gradient_test``, ``dezero-ext check --target``). The entry points (public API):

- ``torch_target`` (``dezero_ext.testing.adapters.torch``): any callable on PyTorch tensors.
- ``jax_target`` (``dezero_ext.testing.adapters.jax``): any function of JAX arrays.
- ``dezero_target`` (``dezero_ext.testing.adapters.dezero``): a DeZero ``Function`` or
  callable.

Each takes ``Declaration``'s fields (``DeclarationFields``: ``domains``, ``shape_rule``,
``sample``, ``order``, ``tolerance``, ``dtypes``, ...) and imports its framework only when
used: install it with the extra of the same name (``pip install 'dezero-ext[torch]'``). See
docs/frameworks.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded on first use, each module with its own adapter
    from dezero_ext.testing.adapters.dezero import dezero_target
    from dezero_ext.testing.adapters.jax import jax_target
    from dezero_ext.testing.adapters.torch import torch_target

__all__ = ["dezero_target", "jax_target", "torch_target"]


def __getattr__(name: str) -> object:
    if name in __all__:
        module = importlib.import_module(f"dezero_ext.testing.adapters.{name.split('_')[0]}")
        return getattr(module, name)
    raise AttributeError(f"module 'dezero_ext.testing.adapters' has no attribute {name!r}")
