"""Optimizers, DeZero's way: ``optimizer = optimizers.SGD(lr).setup(model)``, then
``optimizer.update()`` after each ``loss.backward()``.

The update rules and defaults are DeZero's. State (momentum, squared-gradient averages) is
kept per parameter, in the parameter's dtype: a float32 model stays float32. Parameters are
updated by rebinding ``param.data`` to a new array, never by writing into the old one, so a
graph recorded before the update keeps the values it was computed with. Hooks
(``add_hook``) see the parameters that have a gradient before the update and may change
their gradients (``WeightDecay``, ``ClipGrad``) or drop them (``FreezeParam``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Protocol, Self
from weakref import WeakKeyDictionary

import numpy as np

from dezero_ext import Array, Parameter, Variable
from dezero_ext.core.backend import namespace_of

__all__ = [
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "ClipGrad",
    "FreezeParam",
    "HasParams",
    "Hook",
    "MomentumSGD",
    "Optimizer",
    "TrainStep",
    "WeightDecay",
]

Hook = Callable[[list[Parameter]], None]
"""``hook(params)``: called by ``update()`` with the parameters that have a gradient."""


class HasParams(Protocol):
    """What an optimizer trains: a ``Layer`` or a ``Model`` (anything with ``params()``)."""

    def params(self) -> Iterable[Parameter]: ...


def _grad(param: Parameter) -> Array:
    grad = param.grad
    assert grad is not None  # update() passes only parameters with a gradient
    return grad.data


class Optimizer:
    """The base of optimizers: ``setup(target)``, ``update()``, ``add_hook(f)``.

    A subclass defines ``update_one(param)``, the rule for one parameter with a gradient.
    """

    rate_name: ClassVar[str] = "lr"
    """The attribute holding the learning rate a schedule scales (``alpha`` for Adam)."""

    def __init__(self) -> None:
        self.target: HasParams | None = None
        self.hooks: list[Hook] = []

    def setup(self, target: HasParams) -> Self:
        """Train ``target``'s parameters (read at every ``update``, so parameters created
        later, at a lazy layer's first call, are included). Returns the optimizer."""
        if not callable(getattr(target, "params", None)):
            raise TypeError(
                f"{type(self).__name__}.setup: {type(target).__name__} has no params(); pass "
                "a Layer or a Model"
            )
        self.target = target
        return self

    def update(self) -> None:
        """Run the hooks, then update every parameter that still has a gradient."""
        if self.target is None:
            raise RuntimeError(f"{type(self).__name__}.update: no target; call setup(model) first")
        self.update_params([p for p in self.target.params() if p.grad is not None])

    def update_params(self, params: list[Parameter]) -> None:
        """``update()`` on the given parameters (each with a gradient) instead of the
        target's: the hooks, then the rule (``TrainStep`` passes the ones it computed)."""
        for hook in self.hooks:
            hook(params)
        for param in params:
            if param.grad is not None:  # a hook (FreezeParam) may have removed it
                self.update_one(param)

    def update_one(self, param: Parameter) -> None:
        """Update one parameter from its gradient (defined by each optimizer)."""
        raise NotImplementedError(f"{type(self).__name__} does not define update_one")

    def to_cpu(self) -> None:
        """Move the optimizer's state (momenta, averages) to NumPy: ``to_backend(numpy)``."""
        self.to_backend(np)

    def to_gpu(self) -> None:
        """Move the optimizer's state to CuPy arrays on the GPU, with the model's
        ``to_gpu()``: ``to_backend(cupy)``, or a ``GPUUnavailableError`` saying why not."""
        from dezero_ext_nn import cuda

        cuda.require_gpu(f"{type(self).__name__}.to_gpu()")
        assert cuda.cupy is not None  # require_gpu checked
        self.to_backend(cuda.cupy)

    def to_backend(self, xp: ModuleType) -> None:
        """Move the state kept per parameter to the arrays of module ``xp`` (through NumPy),
        as ``model.to_backend(xp)`` moves the parameters; state made later is made in each
        parameter's own library."""
        from dezero_ext_nn._devices import to_library

        for store in vars(self).values():
            if not isinstance(store, WeakKeyDictionary):
                continue
            for param, state in list(store.items()):
                if isinstance(state, _Moments):
                    state.m, state.v = to_library(state.m, xp), to_library(state.v, xp)
                else:
                    store[param] = to_library(state, xp)

    def add_hook(self, f: Hook) -> None:
        """Call ``f(params)`` at each ``update``, before the parameters change, in the order
        the hooks were added."""
        if not callable(f):
            raise TypeError(f"add_hook: {f!r} is not callable")
        self.hooks.append(f)


def _zeros_like(
    store: WeakKeyDictionary[Parameter, Array], param: Parameter, optimizer: Optimizer
) -> Array:
    """The state array of ``param`` in ``store``: zeros of its shape and dtype at first."""
    state = store.get(param)
    data = param.data
    if state is None:
        state = namespace_of(data).zeros_like(data)  # in the parameter's library
        store[param] = state
    elif type(state) is not type(data):
        raise _moved(optimizer, param, state, data)
    elif state.shape != data.shape or state.dtype != data.dtype:
        raise ValueError(
            f"{type(optimizer).__name__}: parameter {param.name or ''} changed from "
            f"{state.shape} {state.dtype} to {data.shape} {data.dtype} since the last update; "
            "make a new optimizer for the new parameters"
        )
    return state


def _moved(optimizer: Optimizer, param: Parameter, state: object, data: object) -> TypeError:
    name = type(optimizer).__name__
    return TypeError(
        f"{name}: the state of parameter {param.name or ''} is a {type(state).__module__} "
        f"array but the parameter a {type(data).__module__} one: the model moved "
        f"(to_gpu/to_backend) and the optimizer did not; call optimizer.to_gpu() (or "
        f"to_backend) too -- dezero_ext never moves arrays behind your back"
    )


class SGD(Optimizer):
    """Stochastic gradient descent: ``p -= lr * g``."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__()
        self.lr = lr

    def update_one(self, param: Parameter) -> None:
        data = param.data
        param.data = (data - float(self.lr) * _grad(param)).astype(data.dtype, copy=False)


class MomentumSGD(Optimizer):
    """SGD with momentum: ``v = momentum * v - lr * g``, ``p += v`` (``v`` starts at 0)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__()
        self.lr = lr
        self.momentum = momentum
        self.vs: WeakKeyDictionary[Parameter, Array] = WeakKeyDictionary()

    def update_one(self, param: Parameter) -> None:
        v = _zeros_like(self.vs, param, self)
        v *= float(self.momentum)
        v -= float(self.lr) * _grad(param)
        param.data = param.data + v


class AdaGrad(Optimizer):
    """AdaGrad: ``h += g * g``, ``p -= lr * g / (sqrt(h) + eps)``."""

    def __init__(self, lr: float = 0.001, eps: float = 1e-8) -> None:
        super().__init__()
        self.lr = lr
        self.eps = eps
        self.hs: WeakKeyDictionary[Parameter, Array] = WeakKeyDictionary()

    def update_one(self, param: Parameter) -> None:
        h = _zeros_like(self.hs, param, self)
        grad = _grad(param)
        h += grad * grad
        step = np.sqrt(h)
        step += float(self.eps)
        np.divide(grad, step, out=step, casting="same_kind")
        step *= float(self.lr)
        param.data = param.data - step


class AdaDelta(Optimizer):
    """AdaDelta: ``msg = rho*msg + (1-rho)*g*g``,
    ``dx = sqrt((msdx + eps) / (msg + eps)) * g``, ``msdx = rho*msdx + (1-rho)*dx*dx``,
    ``p -= lr * dx`` (DeZero's has no ``lr``: its default 1.0 is DeZero's rule, PyTorch's)."""

    def __init__(self, rho: float = 0.95, eps: float = 1e-6, lr: float = 1.0) -> None:
        super().__init__()
        self.lr = lr  # PyTorch's Adadelta's: a factor on dx, so that schedules apply
        self.rho = rho
        self.eps = eps
        self.msg: WeakKeyDictionary[Parameter, Array] = WeakKeyDictionary()
        self.msdx: WeakKeyDictionary[Parameter, Array] = WeakKeyDictionary()

    def update_one(self, param: Parameter) -> None:
        msg = _zeros_like(self.msg, param, self)
        msdx = _zeros_like(self.msdx, param, self)
        rho, eps = float(self.rho), float(self.eps)
        grad = _grad(param)
        msg *= rho
        msg += (1 - rho) * grad * grad
        dx = np.sqrt((msdx + eps) / (msg + eps))
        np.multiply(dx, grad, out=dx, casting="same_kind")
        msdx *= rho
        msdx += (1 - rho) * dx * dx
        if float(self.lr) != 1.0:
            dx *= float(self.lr)
        param.data = param.data - dx


@dataclass(slots=True)
class _Moments:
    m: Array
    v: Array
    t: int = 0


class Adam(Optimizer):
    """Adam, DeZero's form: ``m += (1-beta1)*(g - m)``, ``v += (1-beta2)*(g*g - v)``,
    ``p -= lr_t * m / (sqrt(v) + eps)`` with ``lr_t = alpha * sqrt(1 - beta2**t) /
    (1 - beta1**t)``.

    ``t`` counts each parameter's own updates (a parameter frozen for a while starts its bias
    correction when it first moves); ``self.t`` counts ``update()`` calls and ``self.lr`` is
    ``lr_t`` for it, as in DeZero. (PyTorch adds ``eps`` after dividing ``sqrt(v)`` by
    ``sqrt(1 - beta2**t)``: the two agree when ``eps`` is negligible.) Setting ``adam.lr``
    sets ``alpha``, PyTorch's ``lr`` for Adam (schedules scale ``alpha``).
    """

    rate_name: ClassVar[str] = "alpha"

    def __init__(
        self, alpha: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.t = 0
        self.alpha = alpha
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.moments: WeakKeyDictionary[Parameter, _Moments] = WeakKeyDictionary()

    def update_params(self, params: list[Parameter]) -> None:
        self.t += 1
        for hook in self.hooks:
            hook(params)
        rule = self._rule()
        for param in params:
            grad = param.grad
            if grad is not None:  # a hook (FreezeParam) may have removed it
                self._update(param, grad.data, rule)

    def _rule(self) -> tuple[float, float, float, float, float, float]:
        beta1, beta2 = float(self.beta1), float(self.beta2)
        return 1.0 - beta1, 1.0 - beta2, float(self.eps), float(self.alpha), beta1, beta2

    def _lr(self, t: int) -> float:
        beta1, beta2 = float(self.beta1), float(self.beta2)
        return float(self.alpha) * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)

    @property
    def lr(self) -> float:
        """The step size of the last ``update()``: ``alpha * sqrt(1 - beta2**t) /
        (1 - beta1**t)``."""
        return self._lr(max(self.t, 1))

    @lr.setter
    def lr(self, value: float) -> None:
        self.alpha = value

    def update_one(self, param: Parameter) -> None:
        self._update(param, _grad(param), self._rule())

    def _update(
        self, param: Parameter, grad: Array, rule: tuple[float, float, float, float, float, float]
    ) -> None:
        data = param.data
        state = self.moments.get(param)
        if state is None:
            xp = namespace_of(data)  # the state in the parameter's library
            state = self.moments[param] = _Moments(xp.zeros_like(data), xp.zeros_like(data))
        m, v = state.m, state.v
        if type(m) is not type(data):
            raise _moved(self, param, m, data)
        if m.shape != data.shape or m.dtype != data.dtype:
            raise ValueError(
                f"Adam: parameter {param.name or ''} changed from {m.shape} {m.dtype} to "
                f"{data.shape} {data.dtype} since the last update; make a new optimizer"
            )
        state.t = t = state.t + 1
        rate1, rate2, eps, alpha, beta1, beta2 = rule
        # One work array, in the parameter's dtype, for every intermediate (fewer passes
        # over memory than the formula's temporaries); the parameter itself is rebound.
        work = np.subtract(grad, m, dtype=data.dtype)
        work *= rate1
        m += work  # m += (1 - beta1) * (g - m)
        np.multiply(grad, grad, out=work)
        work -= v
        work *= rate2
        v += work  # v += (1 - beta2) * (g * g - v)
        np.sqrt(v, out=work)
        work += eps
        np.divide(m, work, out=work)
        work *= alpha * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)  # lr_t, as _lr(t)
        np.subtract(data, work, out=work)
        param.data = work  # the work array becomes the parameter's: one allocation per update


# ---------------------------------------------------------------------- traced step
class TrainStep:
    """A training step as one traced program: ``loss = step(x, t)`` does what
    ``model.cleargrads(); loss = loss_fn(x, t); loss.backward(); optimizer.update()`` does,
    replaying ``loss_fn``'s forward and backward as NumPy calls (``dezero_ext.trace``) with no
    graph, then updating the parameters with the optimizer's rule::

        step = optimizers.TrainStep(lambda x, t: F.softmax_cross_entropy(model(x), t), optimizer)
        for x, t in loader:
            loss = step(x, t)          # a Variable holding the loss (no graph)

    ``loss_fn`` takes arrays (the batch; integer labels are passed to ops as they are) and
    returns the loss. After a step each parameter ``loss_fn`` reads holds its gradient in
    ``.grad``, as after ``backward()``; the optimizer's hooks run as in ``update()``. The
    parameters are the optimizer target's (``optimizer.setup(model)``) that ``loss_fn``
    reads, looked up when it is traced; what ``trace`` guards and cannot see applies
    (docs/tracing.md). Where a traced call would run eagerly (``detect_anomaly()``, a shape
    decided by the values) the step runs eagerly, as written above."""

    def __init__(self, loss_fn: Callable[..., Variable], optimizer: Optimizer) -> None:
        from dezero_ext import trace

        if optimizer.target is None:
            raise RuntimeError(
                f"TrainStep: the {type(optimizer).__name__} has no target; call "
                "optimizer.setup(model) first"
            )
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.traced = trace(loss_fn)
        self._plans: dict[int, tuple[list[Variable], list[bool], list[Parameter]]] = {}

    def __call__(self, *args: object) -> Variable:
        result = self.traced.value_and_grads(*args)  # type: ignore[arg-type]  # checked there
        if result is None:
            return self._eager(args)
        value, live, grads = result
        trains, others = self._plan(live)
        params: list[Parameter] = []
        for v, g, train in zip(live, grads, trains, strict=True):
            if train and g is not None:
                v.grad = Variable(g)
                params.append(v)  # type: ignore[arg-type]  # a target parameter: _plan
        for p in others:  # the target's parameters loss_fn does not read: as cleargrads()
            p.grad = None
        self.optimizer.update_params(params)
        return Variable(value, requires_grad=False)

    def _plan(self, live: list[Variable]) -> tuple[list[bool], list[Parameter]]:
        """Which Variables ``loss_fn`` reads are the target's parameters, and the target's
        parameters it does not read (once per tape: ``live`` is the tape's own list)."""
        plan = self._plans.get(id(live))
        if plan is None or plan[0] is not live:
            assert self.optimizer.target is not None  # checked in __init__
            params = list(self.optimizer.target.params())
            ids = {id(p) for p in params}
            read = {id(v) for v in live}
            plan = (live, [id(v) in ids for v in live], [p for p in params if id(p) not in read])
            if len(self._plans) > 16:
                self._plans.clear()
            self._plans[id(live)] = plan
        return plan[1], plan[2]

    def _eager(self, args: tuple[object, ...]) -> Variable:
        target = self.optimizer.target
        assert target is not None  # checked in __init__
        for p in target.params():
            p.grad = None
        loss = self.loss_fn(*args)
        loss.backward()
        self.optimizer.update()
        return loss


# ---------------------------------------------------------------------- hooks
class WeightDecay:
    """L2 regularization: adds ``rate * p`` to each gradient (PyTorch's ``weight_decay``)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, params: list[Parameter]) -> None:
        rate = float(self.rate)
        for param in params:
            if param.grad is not None:
                param.grad = Variable(param.grad.data + rate * param.data)


class ClipGrad:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``
    (PyTorch's ``clip_grad_norm_``: factor ``max_norm / (norm + 1e-6)`` when below 1)."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def __call__(self, params: list[Parameter]) -> None:
        grads = [p.grad.data for p in params if p.grad is not None]
        total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
        rate = float(self.max_norm) / (total + 1e-6)
        if rate < 1:
            for param in params:
                if param.grad is not None:
                    param.grad = Variable(param.grad.data * rate)


class FreezeParam:
    """Keep some parameters fixed: drops the gradients of the given layers' parameters (read
    at each update) and of the given parameters, so the optimizer skips them. (DeZero's
    crashed on the next update, and on a hook after it.)"""

    def __init__(self, *layers: HasParams | Parameter) -> None:
        for item in layers:
            if not isinstance(item, Parameter) and not callable(getattr(item, "params", None)):
                raise TypeError(
                    f"FreezeParam: {type(item).__name__} is neither a Parameter nor a layer"
                )
        self.layers = layers

    def frozen(self) -> list[Parameter]:
        """The parameters frozen now."""
        params: list[Parameter] = []
        for item in self.layers:
            if isinstance(item, Parameter):
                params.append(item)
            else:
                params.extend(item.params())
        return params

    def __call__(self, params: list[Parameter]) -> None:
        for param in self.frozen():
            param.grad = None
