"""What an op plugin declares: an ``OpDef`` (a ``Declaration`` with its ``Function``), its
per-input ``Domain`` and its ``Tolerance``.

These are plain frozen data. The property-based checker (``dezero_ext.testing``) builds its
Hypothesis strategies from them; the core never imports Hypothesis.

- ``domain``: ``Domain``, ``Tolerance``;
- ``declaration``: ``Declaration``, ``DeclarationFields``, ``ShapeRule``, ``Draw``, ``Case``,
  ``ErrorInput``, ``Reference``;
- ``op``: ``OpDef``, ``OpSet``.
"""

from dezero_ext.opdef.declaration import (
    Case,
    Declaration,
    DeclarationFields,
    Draw,
    ErrorInput,
    JvpRule,
    Reference,
    Sampler,
    ShapeRule,
    Ties,
)
from dezero_ext.opdef.domain import Domain, KinkRule, Tolerance
from dezero_ext.opdef.op import OpDef, OpSet

__all__ = [
    "Case",
    "Declaration",
    "DeclarationFields",
    "Domain",
    "Draw",
    "ErrorInput",
    "KinkRule",
    "OpDef",
    "OpSet",
    "Reference",
    "Sampler",
    "ShapeRule",
    "JvpRule",
    "Ties",
    "Tolerance",
]
