"""Learning-rate schedules: ``scheduler = schedules.CosineDecay(100).attach(optimizer)``, then
``scheduler.step()`` once per epoch (or per update: the schedule counts whatever you step).

A ``Schedule`` is a factor of the optimizer's initial rate at each step; schedules compose by
multiplication (``WarmUp(5) * CosineDecay(100)``: a linear warm-up on a cosine decay). The
rate a scheduler sets is the optimizer's ``rate_name`` attribute: ``lr``, or ``alpha`` for
Adam (whose ``lr`` is its bias-corrected step, as in DeZero).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from dezero_ext_nn.optimizers import Optimizer

__all__ = [
    "CosineDecay",
    "ExponentialDecay",
    "Schedule",
    "Scheduler",
    "StepDecay",
    "WarmUp",
]


def _positive(value: int, name: str, schedule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{schedule}: {name} must be a positive int, got {value!r}")
    return value


class Schedule(ABC):
    """A factor of the initial learning rate at each step (step 0: before any ``step()``)."""

    @abstractmethod
    def factor(self, step: int) -> float:
        """The factor at ``step``."""

    def __mul__(self, other: Schedule) -> Schedule:
        return _Product(self, other)

    def attach(self, optimizer: Optimizer) -> Scheduler:
        """A ``Scheduler`` setting ``optimizer``'s rate from this schedule."""
        return Scheduler(optimizer, self)


@dataclass(frozen=True)
class _Product(Schedule):
    first: Schedule
    second: Schedule

    def factor(self, step: int) -> float:
        return self.first.factor(step) * self.second.factor(step)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``gamma ** (step // step_size)``: the rate times ``gamma`` every ``step_size`` steps
    (PyTorch's ``StepLR``)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _positive(self.step_size, "step_size", "StepDecay")

    def factor(self, step: int) -> float:
        return float(self.gamma) ** (step // self.step_size)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``gamma ** step`` (PyTorch's ``ExponentialLR``)."""

    gamma: float

    def factor(self, step: int) -> float:
        return float(self.gamma) ** step


@dataclass(frozen=True)
class CosineDecay(Schedule):
    """From 1 down to ``min_factor`` along half a cosine over ``total_steps``, then
    ``min_factor`` (PyTorch's ``CosineAnnealingLR`` with ``eta_min = min_factor * lr``)."""

    total_steps: int
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        _positive(self.total_steps, "total_steps", "CosineDecay")

    def factor(self, step: int) -> float:
        done = min(step, self.total_steps) / self.total_steps
        return self.min_factor + (1.0 - self.min_factor) * (1.0 + math.cos(math.pi * done)) / 2


@dataclass(frozen=True)
class WarmUp(Schedule):
    """Linear from ``start_factor`` to 1 over ``steps``, then 1 (PyTorch's ``LinearLR``)."""

    steps: int
    start_factor: float = 0.1

    def __post_init__(self) -> None:
        _positive(self.steps, "steps", "WarmUp")

    def factor(self, step: int) -> float:
        done = min(step, self.steps) / self.steps
        return self.start_factor + (1.0 - self.start_factor) * done


class Scheduler:
    """Sets ``optimizer``'s rate to ``initial * schedule.factor(step)``; ``step()`` advances.

    The initial rate is the optimizer's when attached; the rate for step 0 is set at once.
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Scheduler: optimizer must be an Optimizer, got {optimizer!r}")
        self.optimizer = optimizer
        self.schedule = schedule
        self.initial = float(getattr(optimizer, optimizer.rate_name))
        self.steps = 0
        self._apply()

    @property
    def lr(self) -> float:
        """The rate set for the current step."""
        return self.initial * self.schedule.factor(self.steps)

    def step(self) -> None:
        """Advance one step and set the optimizer's rate for it."""
        self.steps += 1
        self._apply()

    def _apply(self) -> None:
        setattr(self.optimizer, self.optimizer.rate_name, self.lr)
