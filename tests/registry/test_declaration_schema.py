"""One declaration schema: ``Declaration``'s fields are the keywords ``OpSet.declare`` and the
adapters take (``DeclarationFields``), so a new field is one edit plus its use; ``OpDef`` and
a checker target's spec are the same class, validated in one place."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

from dezero_ext import Domain, OpDef, OpSet
from dezero_ext.opdef import Declaration, DeclarationFields
from dezero_ext.ops.basic import Square
from dezero_ext.testing import TargetSpec
from dezero_ext.testing.adapters._base import Declared, declare


def _square(x: float) -> float:
    return x * x


def test_the_keywords_are_the_declarations_fields() -> None:
    fields = {f.name: f for f in dataclasses.fields(Declaration)}
    keywords = typing.get_type_hints(DeclarationFields)
    assert set(keywords) == set(fields) - {"name"}
    attributes = typing.get_type_hints(Declaration)
    for key, hint in keywords.items():
        # a keyword may be given more loosely than the attribute it becomes: domains=Domain()
        wanted = attributes[key] | Domain if key == "domains" else attributes[key]
        assert hint == wanted, key
    assert all(f.kw_only for f in fields.values() if f.name != "name")
    assert set(typing.get_type_hints(Declared)) == {*keywords, "name", "source", "keywords"}


def test_an_opdef_is_the_declaration_with_its_function() -> None:
    assert [f.name for f in dataclasses.fields(OpDef)] == [
        f.name for f in dataclasses.fields(Declaration)
    ] + ["function"]
    assert TargetSpec is Declaration


def test_declare_passes_every_field_through() -> None:
    values: DeclarationFields = {
        "domains": Domain(0.5, 1.5),
        "order": 3,
        "dtypes": ("float64",),
        "ties": "split",
        "description": "x squared",
        "optional": 0,
    }
    ops = OpSet()
    ops.declare("sq", **values)(Square)
    named: Declared = {"name": "sq", **values, "source": "sq", "keywords": {}}
    opdef, adapted = ops["sq"], declare(_square, named)
    for f in dataclasses.fields(Declaration):
        assert getattr(opdef, f.name) == getattr(adapted, f.name), f.name
    assert opdef.domains == (Domain(0.5, 1.5),) and opdef.order == 3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Declaration("f", arity=2, domains=(Domain(),) * 3), "'f': 3 domains for 2"),
        (lambda: OpDef("f", Square, order=5), "OpDef 'f': order must be 1, 2, 3 or 4, got 5"),
        (lambda: Declaration("g", dtypes=("int8",)), "unsupported dtype 'int8': dtypes must"),
        (lambda: Declaration("g", ties="all"), "Declaration 'g': ties must be 'none'"),  # type: ignore[arg-type]  # the mistake is the point
        (lambda: Declaration("g", jvp="own"), "Declaration 'g': jvp must be 'native'"),  # type: ignore[arg-type]  # the mistake is the point
        (lambda: Declaration("g", backends=("dask",)), "'g': backends must be .* numpy included"),
        (lambda: Declaration("g", backends=("numpy", "mlx")), "got \\('numpy', 'mlx'\\)"),
        (
            lambda: OpDef("f", Square, jvp="fallback"),
            "OpDef 'f': declares jvp='fallback', but Square has a jvp rule",
        ),
    ],
)
def test_a_wrong_field_is_refused_naming_the_target_and_the_value(
    build: typing.Callable[[], object], message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        build()


def test_an_unknown_keyword_is_refused_with_the_closest_field() -> None:
    ops = OpSet()
    with pytest.raises(
        TypeError, match=r"declare\('sq'\): unknown declaration field 'ordr'.*'order'"
    ):
        ops.declare("sq", ordr=2)  # type: ignore[call-arg]  # the typo is the point
    with pytest.raises(TypeError, match="unknown declaration field 'tolerence'"):
        declare(_square, {"tolerence": 1.0})  # type: ignore[typeddict-unknown-key]  # the typo is the point


def test_domains_are_one_per_input_once_declared() -> None:
    assert Declaration("f", arity=3).domains == (Domain(),) * 3
    assert Declaration("f", arity=2, domains=(Domain(0, 1),)).domains == (Domain(0, 1),) * 2
    one = Domain(-1.0, 1.0)
    assert Domain.per_input(one, 2) == (one, one)
    assert Declaration("f", arity=2).domain(5) == Domain()  # an input past arity: the last's


def test_a_domain_knows_what_it_contains_and_its_kinks() -> None:
    domain = Domain(-1.0, 1.0, kinks=(0.0, 3.0), exclude=(0.5,), margin=0.1)
    assert domain.contains(0.2) and not domain.contains(0.05) and not domain.contains(0.55)
    assert domain.contains(np.array([[-1.0, 0.3], [0.7, 1.0]]))
    assert not domain.contains(np.array([-1.0, 1.01]))
    assert domain.kinks_inside() == (0.0,)
    assert Domain(0.0, 2.0, positive=True, kinks=(0.0, 1.0)).kinks_inside() == (1.0,)
