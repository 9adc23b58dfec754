"""The claims a declaration makes beyond gradients (internal), checked once per op:
``error_inputs`` must raise what they say, and each input's ``Domain.outside`` must hold for
values drawn beyond ``[lower, high]``.

``outside="defined"``: the op neither raises nor returns nan there. ``outside="nan"``: it does
not raise there, and some value drawn there gives nan (NumPy's nan, as ``log(-1)``). Inputs
are drawn by Hypothesis from the declaration (float64), then one input is moved outside its
domain; an op with a ``sample`` function draws its own values, and is not probed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Final, NoReturn

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dezero_ext.core.variable import Array
from dezero_ext.opdef import Domain, ErrorInput
from dezero_ext.testing.errors import describe
from dezero_ext.testing.protocol import Target, TargetFaultError
from dezero_ext.testing.reproduce import value_source
from dezero_ext.testing.strategies import draw_case
from dezero_ext.testing.timeout import in_phase

__all__ = ["ClaimError", "check_claims", "check_error_inputs", "check_outside"]

OUTSIDE_EXAMPLES: Final = 10
"""Drawn examples per op for the ``outside`` claims: one forward each, in float64."""


class ClaimError(AssertionError):
    """A declared error input or ``outside`` claim does not hold; the message is the report."""


def _head(target: Target, what: str) -> str:
    return f"declared {what} does not hold: op {target.spec.name!r}"


def _rerun(target: Target) -> str:
    return (
        "  to reproduce, paste into Python:\n"
        f"    from dezero_ext.testing import check_op\n"
        f"    print(check_op({target.source}).report)"
    )


def _call(target: Target, inputs: Sequence[Array], params: Mapping[str, object]) -> str:
    args = [value_source(np.asarray(x)).expression for x in inputs]
    args += [f"{k}={value_source(v).expression}" for k, v in params.items()]
    return f"{target.spec.name}({', '.join(args)})"


def check_error_inputs(target: Target) -> None:
    """Each of the declaration's ``error_inputs`` must raise its exception with its message."""
    for n, err in enumerate(target.spec.error_inputs):
        inputs = [np.asarray(x) for x in err.inputs]
        try:
            outputs = target.evaluate(inputs, err.params)
        except Exception as exc:  # noqa: BLE001 - the exception is what is checked
            if isinstance(exc, err.raises) and re.search(err.match, str(exc)):
                continue
            got = f"raised {describe(exc)}"
        else:
            got = "returned outputs of shapes " + ", ".join(str(y.shape) for y in outputs)
        raise ClaimError(_error_report(target, n, err, inputs, got))


def _error_report(
    target: Target, n: int, err: ErrorInput, inputs: Sequence[Array], got: str
) -> str:
    return "\n".join(
        [
            _head(target, f"error input {n}"),
            f"  call:          {_call(target, inputs, err.params)}",
            f"  expected:      {err.raises.__name__} with a message matching {err.match!r}",
            f"  got:           {got}",
            "  likely cause:  the op accepts (or refuses differently) what its declaration says "
            "it refuses; fix the op's check, or the ErrorInput",
            _rerun(target),
        ]
    )


def _outside(domain: Domain, shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    """Values beyond ``[lower, high]``, on either side, up to one interval's width away."""
    width = domain.high - domain.lower
    below = domain.lower - rng.uniform(0.0, width, size=shape) - width * 1e-3
    above = domain.high + rng.uniform(0.0, width, size=shape) + width * 1e-3
    return np.where(rng.random(size=shape) < 0.5, below, above)


def check_outside(target: Target, examples: int = OUTSIDE_EXAMPLES) -> None:
    """Each input's ``outside`` claim, on ``examples`` drawn examples moved outside."""
    spec = target.spec
    if spec.sample is not None or "float64" not in spec.dtypes:
        return
    nan_claimed = {i for i in range(spec.arity) if spec.domain(i).outside == "nan"}
    nan_seen: set[int] = set()
    fails_inside: list[bool] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def probe(data: st.DataObject) -> None:
        case = draw_case(data.draw, spec, "float64")
        i = data.draw(st.integers(0, len(case.inputs) - 1), label="input moved outside")
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        inputs = list(case.inputs)
        domain = spec.domain(i)
        inputs[i] = _outside(domain, inputs[i].shape, rng)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                outputs = target.evaluate(inputs, case.params)
        except TargetFaultError:
            fails_inside.append(True)  # a fault the target saw itself (in place): not outside
            return
        except Exception as exc:  # noqa: BLE001 - raising outside is what is checked
            if _fails_inside(target, case.inputs, case.params):
                fails_inside.append(True)  # not about the outside: the gradient checks report it
                return
            _outside_fail(target, i, domain, inputs, case.params, f"raised {describe(exc)}")
        nan = any(bool(np.isnan(y).any()) for y in outputs)
        if nan and domain.outside == "defined" and not any(np.isnan(x).any() for x in inputs):
            _outside_fail(target, i, domain, inputs, case.params, "returned nan")
        if nan:
            nan_seen.add(i)

    probe()
    missing = nan_claimed - nan_seen
    if missing and not fails_inside:
        i = min(missing)
        raise ClaimError(
            "\n".join(
                [
                    _head(target, f"outside='nan' of input {i}"),
                    f"  domain:        {spec.domain(i).describe()}",
                    f"  got:           no nan in {examples} examples with input {i} moved outside "
                    "its interval (either side, up to one interval's width away)",
                    "  likely cause:  the op is defined beyond its declared interval: declare "
                    "outside='defined' (the default), or widen the Domain",
                    _rerun(target),
                ]
            )
        )


def _fails_inside(target: Target, inputs: Sequence[Array], params: Mapping[str, object]) -> bool:
    """Whether the op raises on the drawn inputs themselves, inside its domain."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            target.evaluate(inputs, params)
    except Exception:  # noqa: BLE001 - any failure inside is the other checks' to report
        return True
    return False


def _outside_fail(
    target: Target,
    i: int,
    domain: Domain,
    inputs: Sequence[Array],
    params: Mapping[str, object],
    got: str,
) -> NoReturn:
    claim = domain.outside
    fix = (
        "declare outside='nan' for an op undefined there (as log of a negative number)"
        if claim == "defined" and "nan" in got
        else "return nan (NumPy's convention) instead of raising, or narrow what is declared"
    )
    raise ClaimError(
        "\n".join(
            [
                _head(target, f"outside={claim!r} of input {i}"),
                f"  domain:        {domain.describe()}",
                f"  call:          {_call(target, inputs, params)}",
                f"  got:           {got} (outside={claim!r} promises "
                + ("an ordinary value" if claim == "defined" else "nan, not an exception")
                + ")",
                f"  likely cause:  {fix}",
                _rerun(target),
            ]
        )
    )


def check_claims(target: Target) -> None:
    """The declaration's error inputs and outside claims; raises ``ClaimError``. Run after
    the gradient checks (a fault they report is reported by them first); a time limit that
    runs out here names the forward of order 1 (whose test runs the claims)."""
    with in_phase("forward", 1):
        check_error_inputs(target)
        check_outside(target)
