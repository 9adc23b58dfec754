"""Learning-rate schedules on every optimizer: the factors PyTorch's schedulers give, their
products, and ``lr`` on Adam (``alpha``) and AdaDelta."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dezero_ext import Parameter
from dezero_ext_nn import optimizers
from dezero_ext_nn.schedules import CosineDecay, ExponentialDecay, StepDecay, WarmUp


def _rates(optimizer: optimizers.Optimizer, schedule: object, steps: int) -> list[float]:
    scheduler = schedule.attach(optimizer)  # type: ignore[attr-defined]  # each Schedule
    rates = []
    for _ in range(steps):
        rates.append(float(getattr(optimizer, optimizer.rate_name)))
        scheduler.step()
    return rates


def test_step_exponential_and_cosine_factors_are_pytorchs() -> None:
    assert _rates(optimizers.SGD(1.0), StepDecay(2, 0.5), 5) == [1.0, 1.0, 0.5, 0.5, 0.25]
    np.testing.assert_allclose(
        _rates(optimizers.SGD(2.0), ExponentialDecay(0.9), 3), [2, 1.8, 1.62]
    )
    cosine = _rates(optimizers.SGD(1.0), CosineDecay(4, min_factor=0.2), 6)
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * min(t, 4) / 4)) / 2 for t in range(6)]
    np.testing.assert_allclose(cosine, expected)
    assert cosine[4] == cosine[5] == pytest.approx(0.2)


def test_schedules_compose_by_multiplication() -> None:
    rates = _rates(optimizers.SGD(1.0), WarmUp(2, start_factor=0.5) * StepDecay(3, 0.1), 4)
    np.testing.assert_allclose(rates, [0.5, 0.75, 1.0, 0.1])


@pytest.mark.parametrize(
    "make",
    [optimizers.SGD, optimizers.MomentumSGD, optimizers.AdaGrad, optimizers.AdaDelta],
)
def test_every_optimizer_exposes_lr_and_a_schedule_scales_it(make: type) -> None:
    optimizer = make()
    start = optimizer.lr
    scheduler = ExponentialDecay(0.5).attach(optimizer)
    scheduler.step()
    assert optimizer.lr == pytest.approx(start * 0.5) == scheduler.lr


def test_adam_lr_sets_alpha_and_schedules_scale_alpha() -> None:
    adam = optimizers.Adam()
    adam.lr = 0.01  # PyTorch's name for Adam's rate
    assert adam.alpha == 0.01
    scheduler = StepDecay(1, 0.1).attach(adam)
    scheduler.step()
    assert adam.alpha == pytest.approx(0.001)
    # adam.lr stays DeZero's bias-corrected step size
    assert adam.lr == pytest.approx(0.001 * math.sqrt(1 - 0.999) / (1 - 0.9))


def test_adadelta_lr_scales_the_step_and_its_default_is_dezeros_rule() -> None:
    steps = []
    for lr in (1.0, 0.5):
        p = Parameter(np.array([1.0, -2.0]))
        p.grad = Parameter(np.array([0.3, -0.1]))
        optimizer = optimizers.AdaDelta(lr=lr)
        optimizer.update_one(p)
        steps.append(np.array([1.0, -2.0]) - p.data)
    np.testing.assert_allclose(steps[1], steps[0] * 0.5)
    np.testing.assert_allclose(
        steps[0], np.sqrt(1e-6 / (0.05 * np.array([0.09, 0.01]) + 1e-6)) * [0.3, -0.1]
    )


def test_bad_schedule_arguments_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"StepDecay: step_size must be a positive int, got 0"):
        StepDecay(0)
    with pytest.raises(ValueError, match="CosineDecay: total_steps"):
        CosineDecay(2.5)  # type: ignore[arg-type]  # the wrong type under test
    with pytest.raises(TypeError, match="Scheduler: optimizer must be an Optimizer"):
        WarmUp(3).attach(object())  # type: ignore[arg-type]  # the wrong type under test
