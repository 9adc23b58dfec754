"""W10: CNN layers against PyTorch: conv2d, deconv2d, max and average pooling, forward +
backward, at batch 32, 256 and 1024, float32 and float64. Three networks:

- ``digits``: the small CNN on 8x8 digit-sized images (random data): conv 1->8 3x3 pad 1,
  relu, 2x2 max pooling, linear 128->10, softmax cross entropy (mean).
- ``vgg``: a VGG-style block at 32x32: conv 3->16 3x3 pad 1, relu, conv 16->16 3x3 pad 1,
  relu, 2x2 max pooling; the loss is ``sum(y * r)`` for a fixed random ``r``.
- ``up``: a decoder block: deconv 16->8 4x4 stride 2 pad 1 (16x16 -> 32x32), relu, 2x2
  average pooling; loss ``sum(y * r)``.

The result compared is every parameter's gradient (and the digits loss). The NumPy reference
is written by hand: windows by ``sliding_window_view`` and one ``tensordot`` per convolution,
the input gradient by a loop over the kernel offsets, pooling by reshaping the 2x2 windows.
PyTorch runs with ``torch.set_num_threads`` set to the number of threads NumPy's BLAS uses.

Peak memory is measured the same way for every implementation, in a fresh process per
implementation and case (``python -m benchmarks.cnn --peak KEY NAME``): after one warm-up run,
the kernel's high-water mark of resident memory is reset (``/proc/self/clear_refs``) and the
peak is the high-water mark during the next run minus the resident memory before it. glibc's
mmap threshold is fixed at 4 KiB in that process, so every freed buffer's pages go back to the
system (none is reused unseen from the warm-up) and the figure counts what each run really
holds at once, for NumPy's buffers and torch's allocator alike.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
from functools import partial
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks import peers
from benchmarks.harness import Array, Case, Grads, Run, UnavailableError

KINDS = ("digits", "vgg", "up")
BATCHES = (32, 256, 1024)
DTYPES: tuple[tuple[type[np.floating[Any]], float], ...] = ((np.float32, 2e-3), (np.float64, 1e-9))
PARAMS = {"digits": ("W1", "b1", "W2", "b2"), "vgg": ("W1", "b1", "W2", "b2"), "up": ("W", "b")}
TITLES = {
    "digits": "digits CNN 8x8: conv 1->8 3x3, relu, maxpool 2, linear 128->10, softmax CE",
    "vgg": "VGG block 32x32: conv 3->16 3x3, relu, conv 16->16 3x3, relu, maxpool 2",
    "up": "decoder block: deconv 16->8 4x4 s2 p1 (16x16->32x32), relu, avgpool 2",
}


def blas_threads() -> int:
    """The number of threads NumPy's OpenBLAS uses (all CPUs when it cannot be asked)."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for symbol in (
            "scipy_openblas_get_num_threads64_",
            "openblas_get_num_threads64_",
            "openblas_get_num_threads",
        ):
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return os.cpu_count() or 1


def _data(kind: str, n: int, dtype: type[np.floating[Any]]) -> dict[str, Array]:
    rng = np.random.default_rng(0)

    def normal(*shape: int, scale: float = 1.0) -> Array:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    if kind == "digits":
        return {
            "x": normal(n, 1, 8, 8),
            "t": rng.integers(0, 10, size=n),
            "W1": normal(8, 1, 3, 3, scale=1 / 3),
            "b1": normal(8, scale=0.1),
            "W2": normal(128, 10, scale=128**-0.5),
            "b2": normal(10, scale=0.1),
        }
    if kind == "vgg":
        return {
            "x": normal(n, 3, 32, 32),
            "r": normal(n, 16, 16, 16),
            "W1": normal(16, 3, 3, 3, scale=27**-0.5),
            "b1": normal(16, scale=0.1),
            "W2": normal(16, 16, 3, 3, scale=144**-0.5),
            "b2": normal(16, scale=0.1),
        }
    return {
        "x": normal(n, 16, 16, 16),
        "r": normal(n, 8, 16, 16),
        "W": normal(16, 8, 4, 4, scale=0.25),
        "b": normal(8, scale=0.1),
    }


# --- the NumPy reference -------------------------------------------------------------------


def _pad(x: Array, p: int) -> Array:
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x


def _conv(x: Array, w: Array, b: Array, p: int) -> tuple[Array, Array]:
    """Stride-1 convolution; also the windows view (N, C, OH, OW, KH, KW) for backward."""
    win = sliding_window_view(_pad(x, p), w.shape[2:], axis=(2, 3))
    y = np.tensordot(win, w, axes=((1, 4, 5), (1, 2, 3)))  # (N, OH, OW, OC)
    return y.transpose(0, 3, 1, 2) + b.reshape(1, -1, 1, 1), win


def _conv_grads(
    gy: Array, win: Array, w: Array, p: int, need_x: bool
) -> tuple[Array | None, Array, Array]:
    gw = np.tensordot(gy, win, axes=((0, 2, 3), (0, 2, 3)))  # (OC, C, KH, KW)
    gb = gy.sum(axis=(0, 2, 3))
    if not need_x:
        return None, gw, gb
    n, _, oh, ow = gy.shape
    kh, kw = w.shape[2:]
    gxp = np.zeros((n, w.shape[1], oh + kh - 1, ow + kw - 1), dtype=gy.dtype)
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i : i + oh, j : j + ow] += np.tensordot(
                w[:, :, i, j], gy, axes=((0,), (1,))
            ).transpose(1, 0, 2, 3)
    return gxp[:, :, p : gxp.shape[2] - p, p : gxp.shape[3] - p], gw, gb


def _maxpool2(x: Array) -> tuple[Array, Array]:
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(axis=-1)[..., None]
    return np.take_along_axis(win, idx, axis=-1)[..., 0], idx


def _maxpool2_grad(gy: Array, idx: Array) -> Array:
    n, c, oh, ow = gy.shape
    g = np.zeros((n, c, oh, ow, 4), dtype=gy.dtype)
    np.put_along_axis(g, idx, gy[..., None], axis=-1)
    return g.reshape(n, c, oh, ow, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * oh, 2 * ow)


def _reference(kind: str, n: int, dtype: type[np.floating[Any]]) -> Run:
    d = _data(kind, n, dtype)
    return {"digits": _ref_digits, "vgg": _ref_vgg, "up": _ref_up}[kind](d)


def _ref_digits(d: dict[str, Array]) -> Run:
    x, t = d["x"], d["t"]
    rows = np.arange(x.shape[0])

    def run() -> Grads:
        a, win = _conv(x, d["W1"], d["b1"], 1)
        h = np.maximum(a, 0)
        p, idx = _maxpool2(h)
        f = p.reshape(len(x), -1)
        y = f @ d["W2"] + d["b2"]
        z = y - y.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]).mean() - z[rows, t].mean()
        gy = e / s
        gy[rows, t] -= 1
        gy /= len(x)
        gw2, gb2 = f.T @ gy, gy.sum(axis=0)
        gp = (gy @ d["W2"].T).reshape(p.shape)
        ga = _maxpool2_grad(gp, idx) * (a > 0)
        _, gw1, gb1 = _conv_grads(ga, win, d["W1"], 1, need_x=False)
        return {"W1": gw1, "b1": gb1, "W2": gw2, "b2": gb2, "loss": np.asarray(loss)}

    return run


def _ref_vgg(d: dict[str, Array]) -> Run:
    def run() -> Grads:
        a1, win1 = _conv(d["x"], d["W1"], d["b1"], 1)
        h1 = np.maximum(a1, 0)
        a2, win2 = _conv(h1, d["W2"], d["b2"], 1)
        h2 = np.maximum(a2, 0)
        _, idx = _maxpool2(h2)
        ga2 = _maxpool2_grad(d["r"], idx) * (a2 > 0)
        gh1, gw2, gb2 = _conv_grads(ga2, win2, d["W2"], 1, need_x=True)
        assert gh1 is not None
        _, gw1, gb1 = _conv_grads(gh1 * (a1 > 0), win1, d["W1"], 1, need_x=False)
        return {"W1": gw1, "b1": gb1, "W2": gw2, "b2": gb2}

    return run


def _ref_up(d: dict[str, Array]) -> Run:
    x, w, b, r = d["x"], d["W"], d["b"], d["r"]
    n, _, h, wd = x.shape
    oc, k = w.shape[1], w.shape[2]

    def run() -> Grads:
        # deconv stride 2 pad 1: each input pixel scatters a 4x4 patch; by kernel offset
        cols = np.tensordot(w, x, axes=((0,), (1,)))  # (OC, KH, KW, N, H, W)
        yp = np.zeros((n, oc, 2 * h + 2, 2 * wd + 2), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                yp[:, :, i : i + 2 * h : 2, j : j + 2 * wd : 2] += cols[:, i, j].transpose(
                    1, 0, 2, 3
                )
        a = yp[:, :, 1:-1, 1:-1] + b.reshape(1, -1, 1, 1)
        # relu, average pooling 2x2, loss sum(y * r): gy = r
        ga = np.repeat(np.repeat(r * 0.25, 2, axis=2), 2, axis=3) * (a > 0)
        gwin = sliding_window_view(_pad(ga, 1), (k, k), axis=(2, 3))[:, :, ::2, ::2]
        gw = np.tensordot(x, gwin, axes=((0, 2, 3), (0, 2, 3)))  # (C, OC, KH, KW)
        return {"W": gw, "b": ga.sum(axis=(0, 2, 3))}

    return run


# --- dezero_ext ----------------------------------------------------------------------------


def _ours(kind: str, n: int, dtype: type[np.floating[Any]]) -> Run:
    try:
        from dezero_ext import Variable
        from dezero_ext.ops import reshape
        from dezero_ext.ops import sum as total
        from dezero_ext_nn import (
            average_pooling,
            conv2d,
            deconv2d,
            linear,
            pooling,
            relu,
            softmax_cross_entropy,
        )
    except ImportError as exc:
        raise UnavailableError(f"dezero_ext with the nn plugin is not importable ({exc})") from None
    d = _data(kind, n, dtype)
    names = PARAMS[kind]
    params = [Variable(d[k]) for k in names]
    x = d["x"]  # a constant batch, as DeZero's models take it

    def loss_of() -> Any:
        if kind == "digits":
            w1, b1, w2, b2 = params
            h = pooling(relu(conv2d(x, w1, b1, pad=1)), 2, 2)
            return softmax_cross_entropy(linear(reshape(h, (n, -1)), w2, b2), d["t"])
        if kind == "vgg":
            w1, b1, w2, b2 = params
            h = relu(conv2d(relu(conv2d(x, w1, b1, pad=1)), w2, b2, pad=1))
            return total(pooling(h, 2, 2) * d["r"])
        w, b = params
        return total(average_pooling(relu(deconv2d(x, w, b, stride=2, pad=1)), 2, 2) * d["r"])

    def run() -> Grads:
        for param in params:
            param.cleargrad()
        loss = loss_of()
        loss.backward()
        grads: dict[str, Array] = {}
        for key, param in zip(names, params, strict=True):
            assert param.grad is not None
            grads[key] = param.grad.data
        if kind == "digits":
            grads["loss"] = loss.data
        return grads

    return run


# --- PyTorch -------------------------------------------------------------------------------


def _torch(kind: str, n: int, dtype: type[np.floating[Any]]) -> Run:
    torch = peers.torch()
    torch.set_num_threads(blas_threads())
    functional = torch.nn.functional
    d = _data(kind, n, dtype)
    names = PARAMS[kind]
    params = [torch.from_numpy(d[k].copy()).requires_grad_() for k in names]
    x = torch.from_numpy(d["x"])
    extra = torch.from_numpy(d["t"] if kind == "digits" else d["r"])

    def loss_of() -> Any:
        if kind == "digits":
            w1, b1, w2, b2 = params
            h = functional.max_pool2d(torch.relu(functional.conv2d(x, w1, b1, padding=1)), 2)
            return functional.cross_entropy(functional.linear(h.reshape(n, -1), w2.T, b2), extra)
        if kind == "vgg":
            w1, b1, w2, b2 = params
            h = torch.relu(functional.conv2d(x, w1, b1, padding=1))
            h = torch.relu(functional.conv2d(h, w2, b2, padding=1))
            return (functional.max_pool2d(h, 2) * extra).sum()
        w, b = params
        y = torch.relu(functional.conv_transpose2d(x, w, b, stride=2, padding=1))
        return (functional.avg_pool2d(y, 2) * extra).sum()

    def run() -> Grads:
        for param in params:
            param.grad = None
        loss = loss_of()
        loss.backward()
        grads = {key: p.grad.numpy() for key, p in zip(names, params, strict=True)}
        if kind == "digits":
            grads["loss"] = np.asarray(loss.detach().numpy())
        return grads

    return run


BUILDERS = {"numpy": _reference, "dezero_ext": _ours, "torch": _torch}


# --- peak memory, one process per implementation and case ----------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _peak_here(key: str, name: str) -> int:
    kind, dtype_name, batch = key.split("-")[1:]
    run = BUILDERS[name](kind, int(batch[1:]), getattr(np, dtype_name))
    run()  # warm-up: lazy imports, torch's one-time buffers
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # the high-water mark of resident memory := resident memory now
    before = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - before) * 1024


def peak_bytes(key: str, name: str) -> int | None:
    """The peak resident memory of one run of ``name`` on case ``key``, in a fresh process
    (None when this system cannot reset the high-water mark)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="4096", MALLOC_TRIM_THRESHOLD_="4096")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cnn", "--peak", key, name],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = done.stdout.split()
    return int(lines[-1]) if done.returncode == 0 and lines else None


def w10_cases(quick: bool) -> list[Case]:
    cases = []
    for kind in KINDS:
        for dtype, rtol in DTYPES:
            for batch in (8,) if quick else BATCHES:
                name = np.dtype(dtype).name
                key = f"W10-{kind}-{name}-b{batch}"
                cases.append(
                    Case(
                        workload="W10",
                        key=key,
                        title=f"{TITLES[kind]}; batch {batch}, {name}, fwd + bwd",
                        reference=partial(_reference, kind, batch, dtype),
                        impls={
                            "dezero_ext": partial(_ours, kind, batch, dtype),
                            "torch": partial(_torch, kind, batch, dtype),
                        },
                        rtol=rtol,
                        rounds=3 if quick else 7,
                        min_sample_s=0.05,
                        memory=partial(peak_bytes, key),
                    )
                )
    return cases


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--peak":
        print(_peak_here(sys.argv[2], sys.argv[3]))
    else:
        raise SystemExit("usage: python -m benchmarks.cnn --peak KEY NAME")
