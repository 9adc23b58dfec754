"""W3: one training step of an MLP 784-1000-10 on a batch of 1000, float32 and float64.

    a = x @ w1 + b1;  h = sigmoid(a);  y = h @ w2 + b2;  loss = softmax_cross_entropy(y, t)

then backward and a plain SGD step (p -= lr * grad). The time is dominated by the three
matmuls of each layer, so this measures how close a framework stays to NumPy on real work,
and whether it keeps float32 as float32. The result compared is every parameter's gradient
and the loss of the step.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

LR = 0.1
PARAMS = ("W1", "b1", "W2", "b2")


def _data(
    n: int, d_in: int, d_hidden: int, d_out: int, dtype: type[np.floating[Any]]
) -> tuple[Array, Array, dict[str, Array]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d_in)).astype(dtype)
    t = rng.integers(0, d_out, size=n)
    params = {
        "W1": (rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in)).astype(dtype),
        "b1": np.zeros(d_hidden, dtype=dtype),
        "W2": (rng.standard_normal((d_hidden, d_out)) / np.sqrt(d_hidden)).astype(dtype),
        "b2": np.zeros(d_out, dtype=dtype),
    }
    return x, t, params


Sizes = tuple[int, int, int, int]


def _reference(sizes: Sizes, dtype: type[np.floating[Any]]) -> Run:
    x, t, p = _data(*sizes, dtype)
    n = x.shape[0]
    rows = np.arange(n)

    def run() -> Grads:
        w1, b1, w2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
        h = 1 / (1 + np.exp(-(x @ w1 + b1)))
        y = h @ w2 + b2
        z = y - y.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]).mean() - z[rows, t].mean()

        gy = e / s
        gy[rows, t] -= 1
        gy /= n
        gw2 = h.T @ gy
        gb2 = gy.sum(axis=0)
        ga = (gy @ w2.T) * h * (1 - h)
        gw1 = x.T @ ga
        gb1 = ga.sum(axis=0)

        w1 -= LR * gw1
        b1 -= LR * gb1
        w2 -= LR * gw2
        b2 -= LR * gb2
        return {"W1": gw1, "b1": gb1, "W2": gw2, "b2": gb2, "loss": np.asarray(loss)}

    return run


def _ours(sizes: Sizes, dtype: type[np.floating[Any]]) -> Run:
    try:
        from dezero_ext import Variable
        from dezero_ext_nn import linear, sigmoid, softmax_cross_entropy
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext with the nn plugin is not importable ({exc})") from None
    # The batch is passed as a plain array, as DeZero's models take it (a constant, not a
    # parameter), like torch's tensor without requires_grad.
    x, t, p = _data(*sizes, dtype)
    w1, b1, w2, b2 = (Variable(p[k]) for k in PARAMS)
    params = (w1, b1, w2, b2)

    def run() -> Grads:
        for param in params:
            param.cleargrad()
        y = linear(sigmoid(linear(x, w1, b1)), w2, b2)
        loss = softmax_cross_entropy(y, t)
        loss.backward()
        grads: dict[str, Array] = {}
        for key, param in zip(PARAMS, params, strict=True):
            assert param.grad is not None
            grads[key] = param.grad.data
            param.data -= LR * param.grad.data
        grads["loss"] = loss.data
        return grads

    return run


def _dezero(sizes: Sizes, dtype: type[np.floating[Any]]) -> Run:
    dezero = peers.dezero()
    fn = dezero.functions
    x, t, p = _data(*sizes, dtype)
    params = [dezero.Variable(p[k]) for k in PARAMS]
    w1, b1, w2, b2 = params

    def run() -> Grads:
        for param in params:
            param.cleargrad()
        y = fn.linear(fn.sigmoid(fn.linear(x, w1, b1)), w2, b2)
        loss = fn.softmax_cross_entropy(y, t)
        loss.backward()
        grads: dict[str, Array] = {}
        for key, param in zip(PARAMS, params, strict=True):
            grads[key] = np.asarray(param.grad.data)
            param.data -= LR * param.grad.data
        grads["loss"] = np.asarray(loss.data)
        return grads

    return run


def _autograd(sizes: Sizes, dtype: type[np.floating[Any]]) -> Run:
    autograd = peers.load("autograd")
    anp = peers.load("autograd.numpy", label="autograd")
    x, t, p = _data(*sizes, dtype)
    rows = np.arange(x.shape[0])
    state = [p[k] for k in PARAMS]

    def loss_fn(params: list[Any]) -> Any:
        w1, b1, w2, b2 = params
        h = 1 / (1 + anp.exp(-(anp.dot(x, w1) + b1)))
        y = anp.dot(h, w2) + b2
        z = y - anp.max(y, axis=1, keepdims=True)
        return anp.mean(anp.log(anp.sum(anp.exp(z), axis=1))) - anp.mean(z[rows, t])

    value_and_grad = autograd.value_and_grad(loss_fn)

    def run() -> Grads:
        loss, grads = value_and_grad(state)
        out: dict[str, Array] = {}
        for i, (key, grad) in enumerate(zip(PARAMS, grads, strict=True)):
            out[key] = np.asarray(grad)
            state[i] = state[i] - LR * grad
        out["loss"] = np.asarray(loss)
        return out

    return run


def _torch(sizes: Sizes, dtype: type[np.floating[Any]]) -> Run:
    torch = peers.torch()
    x_data, t_data, p = _data(*sizes, dtype)
    x = torch.from_numpy(x_data)
    t = torch.from_numpy(t_data)
    params = [torch.from_numpy(p[k].copy()).requires_grad_() for k in PARAMS]
    w1, b1, w2, b2 = params
    functional = torch.nn.functional

    def run() -> Grads:
        for param in params:
            param.grad = None
        y = functional.linear(torch.sigmoid(functional.linear(x, w1.T, b1)), w2.T, b2)
        loss = functional.cross_entropy(y, t)
        loss.backward()
        out: dict[str, Array] = {}
        with torch.no_grad():
            for key, param in zip(PARAMS, params, strict=True):
                out[key] = param.grad.numpy().copy()
                param -= LR * param.grad
        out["loss"] = np.asarray(loss.detach().numpy())
        return out

    return run


def w3_cases(quick: bool) -> list[Case]:
    sizes: Sizes = (100, 784, 100, 10) if quick else (1000, 784, 1000, 10)
    cases = []
    dtypes: tuple[tuple[type[np.floating[Any]], float], ...] = (
        (np.float32, 2e-3),
        (np.float64, 1e-9),
    )
    for dtype, rtol in dtypes:
        name = np.dtype(dtype).name
        cases.append(
            Case(
                workload="W3",
                key=f"W3-{name}",
                title=(
                    f"MLP {sizes[1]}-{sizes[2]}-{sizes[3]}, batch {sizes[0]}, {name}: "
                    "fwd + softmax CE + bwd + SGD step"
                ),
                reference=partial(_reference, sizes, dtype),
                impls={
                    "dezero_ext": partial(_ours, sizes, dtype),
                    "dezero": partial(_dezero, sizes, dtype),
                    "autograd": partial(_autograd, sizes, dtype),
                    "torch": partial(_torch, sizes, dtype),
                },
                rtol=rtol,
                rounds=3 if quick else 9,
            )
        )
    return cases
