"""W7: one training epoch of an MLP through a data loader, a model and Adam, float32.

The data are MNIST-sized (784 features, 10 classes; 10,000 examples, random), the model the
book's step-51 MLP 784-1000-10 (sigmoid), batches of 100 in a shuffled order, softmax cross
entropy, then Adam with DeZero's rule (alpha 0.001):

    m += (1 - b1) (g - m);  v += (1 - b2) (g² - v);  p -= lr_t m / (sqrt(v) + eps)

dezero_ext runs it the DeZero way (``DataLoader``, ``MLP``, ``F.softmax_cross_entropy``,
``optimizers.Adam``); the NumPy reference writes the same epoch by hand, in place where it
can (Adam through one work array per parameter, as ours, but updating the parameter in place
where ours rebinds it). Every implementation visits the examples in the same order (one
permutation per epoch from the same seeded generator). The result compared is every
parameter after the epoch and the epoch's mean loss. PyTorch batches by indexing its tensors
(its ``DataLoader`` collates example by example, which is not what a PyTorch user does with
in-memory tensors) and uses ``torch.optim.Adam``; ``eps`` is 0, where its rule and DeZero's
are the same (below).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

PARAMS = ("W1", "b1", "W2", "b2")
# eps = 0: DeZero's Adam adds eps to sqrt(v), PyTorch's to sqrt(v / (1 - beta2**t)), so with
# eps > 0 the two rules differ wherever a gradient entry is near eps / sqrt(1 - beta2) (among
# 78,400 random gradient entries, some are); with eps = 0 they are the same rule.
ALPHA, BETA1, BETA2, EPS = 0.001, 0.9, 0.999, 0.0
SHUFFLE_SEED = 1
Sizes = tuple[int, int, int, int, int]
"""(examples, features, hidden, classes, batch size)"""
DIGITS: Sizes = (100, 64, 100, 10, 100)
"""W7-step: one batch of digits-sized examples, so an epoch is one training step."""


def _data(sizes: Sizes) -> tuple[Array, Array, dict[str, Array]]:
    n, d_in, d_hidden, d_out, _ = sizes
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    t = rng.integers(0, d_out, size=n)
    params = {
        "W1": (rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in)).astype(np.float32),
        "b1": np.zeros(d_hidden, dtype=np.float32),
        "W2": (rng.standard_normal((d_hidden, d_out)) / np.sqrt(d_hidden)).astype(np.float32),
        "b2": np.zeros(d_out, dtype=np.float32),
    }
    return x, t, params


def _adam_lr(step: int) -> float:
    return ALPHA * math.sqrt(1.0 - BETA2**step) / (1.0 - BETA1**step)


def _reference(sizes: Sizes) -> Run:
    x, t, p = _data(sizes)
    n, batch = sizes[0], sizes[4]
    rng = np.random.default_rng(SHUFFLE_SEED)
    ms = {k: np.zeros_like(v) for k, v in p.items()}
    vs = {k: np.zeros_like(v) for k, v in p.items()}
    state = {"step": 0}

    def run() -> Grads:
        w1, b1, w2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch):
            index = order[start : start + batch]
            xb, tb = x[index], t[index]
            rows = np.arange(len(index))
            h = 1 / (1 + np.exp(-(xb @ w1 + b1)))
            y = h @ w2 + b2
            z = y - y.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            total += float(np.log(s[:, 0]).mean() - z[rows, tb].mean())

            gy = e / s
            gy[rows, tb] -= 1
            gy /= len(index)
            ga = (gy @ w2.T) * h * (1 - h)
            grads = {"W1": xb.T @ ga, "b1": ga.sum(axis=0), "W2": h.T @ gy, "b2": gy.sum(axis=0)}

            state["step"] += 1
            lr = _adam_lr(state["step"])
            for key, g in grads.items():
                m, v = ms[key], vs[key]
                work = g - m
                work *= 1 - BETA1
                m += work
                np.multiply(g, g, out=work)
                work -= v
                work *= 1 - BETA2
                v += work
                np.sqrt(v, out=work)
                work += EPS
                np.divide(m, work, out=work)
                work *= lr
                p[key] -= work
        steps = math.ceil(n / batch)
        return {**{k: p[k] for k in PARAMS}, "loss": np.asarray(total / steps)}

    return run


def _ours(sizes: Sizes, traced: bool = False) -> Run:
    """The epoch the DeZero way; ``traced``: each step one replayed program
    (``optimizers.TrainStep``: the model, the loss, its backward pass and Adam)."""
    try:
        import dezero_ext_nn.functions as F  # noqa: N812 - DeZero's alias
        from dezero_ext_nn import optimizers
        from dezero_ext_nn.dataloaders import DataLoader
        from dezero_ext_nn.datasets import Dataset
        from dezero_ext_nn.models import MLP
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext with the nn plugin is not importable ({exc})") from None
    x, t, p = _data(sizes)
    _, _, d_hidden, d_out, batch = sizes

    class Examples(Dataset[Array]):
        def prepare(self) -> None:
            self.data, self.label = x, t

    loader = DataLoader(Examples(), batch, seed=SHUFFLE_SEED)
    model = MLP((d_hidden, d_out))
    model(x[:1])  # create the weights, then start from the reference's
    for layer, (w, b) in zip(model.layers, (("W1", "b1"), ("W2", "b2")), strict=True):
        assert layer.b is not None
        layer.W.data, layer.b.data = p[w].copy(), p[b].copy()
    optimizer = optimizers.Adam(ALPHA, BETA1, BETA2, EPS).setup(model)
    step = optimizers.TrainStep(lambda x, t: F.softmax_cross_entropy(model(x), t), optimizer)

    def run() -> Grads:
        total, steps = 0.0, 0
        for xb, tb in loader:
            if traced:  # forward, backward and the update as one replayed program
                loss = step(xb, tb)
            else:
                loss = F.softmax_cross_entropy(model(xb), tb)
                model.cleargrads()
                loss.backward()
                optimizer.update()
            total += float(loss.data)
            steps += 1
        arrays = [param.data for param in model.params()]
        return {**dict(zip(PARAMS, arrays, strict=True)), "loss": np.asarray(total / steps)}

    return run


def _dezero(sizes: Sizes) -> Run:
    dezero = peers.dezero()
    x, t, p = _data(sizes)
    n, _, d_hidden, d_out, batch = sizes
    rng = np.random.default_rng(SHUFFLE_SEED)

    class Examples(dezero.datasets.Dataset):  # type: ignore[misc, name-defined]  # an untyped peer
        def prepare(self) -> None:
            self.data, self.label = x, t

    loader = dezero.DataLoader(Examples(), batch)
    model = dezero.models.MLP((d_hidden, d_out))
    model(x[:1])
    model.l0.W.data, model.l0.b.data = p["W1"].copy(), p["b1"].copy()
    model.l1.W.data, model.l1.b.data = p["W2"].copy(), p["b2"].copy()
    optimizer = dezero.optimizers.Adam(ALPHA, BETA1, BETA2, EPS).setup(model)
    fn = dezero.functions

    def run() -> Grads:
        loader.index = rng.permutation(n)  # the reference's order, in place of DeZero's own
        total, steps = 0.0, 0
        for xb, tb in loader:
            loss = fn.softmax_cross_entropy(model(xb), tb)
            model.cleargrads()
            loss.backward()
            optimizer.update()
            total += float(loss.data)
            steps += 1
        layers = (model.l0.W, model.l0.b, model.l1.W, model.l1.b)
        arrays = [np.asarray(param.data) for param in layers]
        return {**dict(zip(PARAMS, arrays, strict=True)), "loss": np.asarray(total / steps)}

    return run


def _torch(sizes: Sizes) -> Run:
    torch = peers.torch()
    x_data, t_data, p = _data(sizes)
    n, d_in, d_hidden, d_out, batch = sizes
    rng = np.random.default_rng(SHUFFLE_SEED)
    x, t = torch.from_numpy(x_data), torch.from_numpy(t_data)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Sigmoid(), nn.Linear(d_hidden, d_out))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(p["W1"].T.copy()))
        model[0].bias.copy_(torch.from_numpy(p["b1"]))
        model[2].weight.copy_(torch.from_numpy(p["W2"].T.copy()))
        model[2].bias.copy_(torch.from_numpy(p["b2"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=ALPHA, betas=(BETA1, BETA2), eps=EPS)
    cross_entropy = nn.functional.cross_entropy

    def run() -> Grads:
        order = torch.from_numpy(rng.permutation(n))
        total, steps = 0.0, 0
        for start in range(0, n, batch):
            index = order[start : start + batch]
            loss = cross_entropy(model(x[index]), t[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.item())
            steps += 1
        arrays: list[Any] = [
            model[0].weight.detach().numpy().T.copy(),
            model[0].bias.detach().numpy().copy(),
            model[2].weight.detach().numpy().T.copy(),
            model[2].bias.detach().numpy().copy(),
        ]
        return {**dict(zip(PARAMS, arrays, strict=True)), "loss": np.asarray(total / steps)}

    return run


def w7_cases(quick: bool) -> list[Case]:
    sizes: Sizes = (1000, 784, 100, 10, 100) if quick else (10000, 784, 1000, 10, 100)
    n, d_in, d_hidden, d_out, batch = sizes
    return [
        Case(
            workload="W7",
            key="W7",
            title=(
                f"one epoch, {n} examples, MLP {d_in}-{d_hidden}-{d_out}, batch {batch}, "
                "float32: DataLoader + Model + softmax CE + bwd + Adam"
            ),
            reference=partial(_reference, sizes),
            impls={
                "dezero_ext": partial(_ours, sizes),
                "dezero_ext-traced": partial(_ours, sizes, traced=True),
                "dezero": partial(_dezero, sizes),
                "torch": partial(_torch, sizes),
            },
            rtol=2e-3,
            rounds=3 if quick else 5,
        ),
        # one training step on digits-sized data (sklearn's 8x8 digits: 64 features, 10
        # classes), where the toolkit's overhead per op is most of the time
        Case(
            workload="W7",
            key="W7-step",
            title=(
                f"one training step, MLP {DIGITS[1]}-{DIGITS[2]}-{DIGITS[3]}, batch {DIGITS[4]}, "
                "float32 (digits-sized): DataLoader + Model + softmax CE + bwd + Adam"
            ),
            reference=partial(_reference, DIGITS),
            impls={
                "dezero_ext": partial(_ours, DIGITS),
                "dezero_ext-traced": partial(_ours, DIGITS, traced=True),
            },  # no peers: torch's step took 263 ms on the loaded 2-core machine (its threads)
            rtol=2e-3,
            rounds=5 if quick else 41,
            min_sample_s=0.002 if quick else 0.01,
        ),
    ]
