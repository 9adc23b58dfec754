"""The command line: `python -m benchmarks [WORKLOAD ...] [--quick] [--json PATH] ...`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import chain, cnn, forward_mode, higher_order, mlp, peers, plot, train_epoch, wide
from benchmarks.harness import Case, CaseResult, run_case
from benchmarks.profiling import profile_case
from benchmarks.report import evaluate_targets, format_table, format_targets, write_json
from benchmarks.startup import run_startup

WORKLOADS: dict[str, tuple[str, Callable[[bool], list[Case]] | None]] = {
    "W1": ("scalar-chain", chain.w1_cases),
    "W2": ("deep-chain", chain.w2_cases),
    "W3": ("mlp", mlp.w3_cases),
    "W4": ("wide", wide.w4_cases),
    "W5": ("higher-order", higher_order.w5_cases),
    "W6": ("startup", None),
    "W7": ("train-epoch", train_epoch.w7_cases),
    "W8": ("hessian", forward_mode.w8_cases),
    "W9": ("jvp-chain", forward_mode.w9_cases),
    "W10": ("cnn", cnn.w10_cases),
}


def _select(names: Sequence[str]) -> list[str]:
    if not names:
        return list(WORKLOADS)
    chosen: list[str] = []
    for raw in names:
        for key, (alias, _) in WORKLOADS.items():
            if raw.upper() == key or raw.lower() == alias:
                chosen.append(key)
                break
        else:
            options = ", ".join(f"{k} ({alias})" for k, (alias, _) in WORKLOADS.items())
            raise SystemExit(f"unknown workload {raw!r}; choose from {options}")
    return sorted(set(chosen))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark dezero_ext against hand-written NumPy and the peers "
        "(dezero, autograd, torch: each run when installed).",
    )
    parser.add_argument(
        "workloads",
        nargs="*",
        metavar="WORKLOAD",
        help="W1..W9 or their names (scalar-chain, deep-chain, mlp, wide, higher-order, "
        "startup, train-epoch, hessian, jvp-chain); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (smoke run)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="draw the ratios to NumPy against the peers into PATH (PNG/SVG; needs matplotlib)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip dezero, autograd and torch")
    parser.add_argument(
        "--check", action="store_true", help="only check results against NumPy, no timing"
    )
    parser.add_argument("--rounds", type=int, help="override the number of timed rounds")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing, profile dezero_ext on each case with cProfile",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selected = _select(args.workloads)
    if args.no_peers:
        peers.disable(*peers.PEERS)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.plot is not None:
        plot._pyplot()  # a missing matplotlib is said before the run, not after
    if args.profile:
        for key in selected:
            factory = WORKLOADS[key][1]
            for case in factory(args.quick) if factory is not None else []:
                print(profile_case(case) + "\n")
        return 0

    started = time.perf_counter()
    results: list[CaseResult] = []
    for key in selected:
        factory = WORKLOADS[key][1]
        if factory is None:
            if not args.check:
                log(f"{key} ...")
                case_started = time.perf_counter()
                results += run_startup(
                    quick=args.quick, peers_on=not args.no_peers, rounds=args.rounds, log=log
                )
                log(f"{key} done in {time.perf_counter() - case_started:.1f} s")
            continue
        for case in factory(args.quick):
            log(f"{case.key} ...")
            case_started = time.perf_counter()
            results.append(run_case(case, rounds=args.rounds, check_only=args.check, log=log))
            log(f"{case.key} done in {time.perf_counter() - case_started:.1f} s")

    print(format_table(results))
    targets = [] if args.check else evaluate_targets(results)
    if targets:
        print()
        print(format_targets(targets) + ("  (quick sizes: indicative only)" if args.quick else ""))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{len(results)} cases in {time.perf_counter() - started:.1f} s; load average now {load}"
    )
    if args.json:
        options = {
            "quick": args.quick,
            "no_peers": args.no_peers,
            "check": args.check,
            "workloads": selected,
            "rounds": args.rounds,
        }
        write_json(args.json, results, targets, options)
    if args.plot is not None:
        plot.plot(results, args.plot, f"python -m benchmarks {' '.join(selected)}; load {load}")
        log(f"plot written to {args.plot}")
    failed = [f"{c.key} {r.name}" for c in results for r in c.rows if r.status == "failed"]
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
