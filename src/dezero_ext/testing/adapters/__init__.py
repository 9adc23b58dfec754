"""Adapters: another framework's functions as checker targets, checked by the same
property-based gradient checks as a dezero_ext op (``check_op``, ``check_gradients``,
``gradient_test``, ``dezero-ext check --target``).

- ``dezero_ext.testing.adapters.torch.torch_target``: any callable on PyTorch tensors.
- ``dezero_ext.testing.adapters.jax.jax_target``: any function of JAX arrays.
- ``dezero_ext.testing.adapters.dezero.dezero_target``: a DeZero ``Function`` or callable.

Each takes ``Declaration``'s fields (``DeclarationFields``: ``domains``, ``shape_rule``,
``sample``, ``order``, ``tolerance``, ``dtypes``, ...) and imports its framework only when
used: install it with the extra of the same name (``pip install 'dezero-ext[torch]'``). See
docs/frameworks.md.
"""

from __future__ import annotations

from dezero_ext.testing.adapters._base import AdapterTarget, Declared

__all__ = ["AdapterTarget", "Declared"]
