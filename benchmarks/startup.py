"""W6: start-up cost: `import dezero_ext` against `import numpy`, and the first `get_registry()`.

Each sample is a fresh interpreter (a subprocess) that times its own import with
`time.perf_counter()`, so interpreter start-up is excluded and nothing is cached in-process.
`import dezero_ext` includes NumPy's import, so the ratio is the total cost relative to NumPy
alone. The registry sample times the first `dezero_ext.get_registry()` (entry-point discovery
and loading of the installed plugins) after the import. Peers' imports are shown for context.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

from benchmarks import peers
from benchmarks.harness import REFERENCE, CaseResult, ImplResult

_TIMED = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"

IMPORTS = {
    REFERENCE: ("numpy", "import numpy"),
    "dezero_ext": ("dezero_ext", "import dezero_ext"),
    "dezero": ("dezero", "import numpy, matplotlib; numpy.int = int; import dezero"),
    "autograd": ("autograd", "import autograd, autograd.numpy"),
    "torch": ("torch", "import torch"),
}
REGISTRY = "import dezero_ext; t = time.perf_counter(); dezero_ext.get_registry()"


def _environment() -> dict[str, str]:
    # Let the warm-up sample write .pyc files, as any normal install has them: with
    # PYTHONDONTWRITEBYTECODE set, an editable checkout would be compiled on every import
    # while NumPy's wheel came with its bytecode.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _sample(code: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_environment(),
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(last)
    return float(done.stdout.strip().splitlines()[-1])


def _available(name: str, module: str, peers_on: bool) -> str:
    if name in peers.PEERS and (not peers_on or peers.is_disabled(name)):
        return "not run (--no-peers or --quick)"
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    return ""


def _measure(
    codes: dict[str, str], rounds: int, log: Callable[[str], None], key: str
) -> dict[str, ImplResult]:
    results = {name: ImplResult(name, "ok") for name in codes}
    for name, code in codes.items():  # a warm-up sample, also the check that it works
        try:
            _sample(code)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            results[name] = ImplResult(name, "failed", reason=str(exc))
            log(f"  {key} {name}: FAILED, {exc}")
    names = [name for name, result in results.items() if result.status == "ok"]
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            results[name].times.append(_sample(codes[name]))
    return results


def run_startup(
    *, quick: bool, peers_on: bool, rounds: int | None, log: Callable[[str], None]
) -> list[CaseResult]:
    n_rounds = rounds if rounds is not None else (1 if quick else 7)
    codes: dict[str, str] = {}
    skipped: dict[str, ImplResult] = {}
    for name, (module, stmt) in IMPORTS.items():
        # A quick run leaves out the peers' imports (context only; torch's takes seconds).
        why = _available(name, module, peers_on and not quick)
        if why:
            skipped[name] = ImplResult(name, "skipped", reason=why)
        else:
            codes[name] = _TIMED.format(stmt=stmt)
    if "dezero_ext" in codes:
        codes["get_registry"] = _TIMED.replace("t = time.perf_counter(); {stmt}", REGISTRY)

    measured = _measure(codes, n_rounds, log, "W6")
    registry = measured.pop("get_registry", None)
    ref = measured.get(REFERENCE)
    if ref is not None and ref.status == "ok":
        base = statistics.median(ref.times)
        for result in measured.values():
            if result.status == "ok":
                result.ratio = result.median / base
                result.min_ratio = min(result.times) / min(ref.times)
    rows = [measured.get(name) or skipped[name] for name in IMPORTS]
    results = [CaseResult("W6", "W6-import", "start-up: import, in a fresh interpreter", 0, rows)]
    if registry is not None:
        registry.name = "dezero_ext"
        results.append(
            CaseResult(
                "W6",
                "W6-registry",
                "start-up: first get_registry() with the installed plugins",
                0,
                [registry],
            )
        )
    return results
