"""``dezero-ext check --scheduler ADDRESS``: the ops checked on a Dask distributed cluster (a
2-worker ``LocalCluster`` of processes, started beside the test) give the table and the JSON
of a local run; a worker lost mid-check costs nothing (the scheduler runs the op again
elsewhere), an op that ends every process it runs in is reported alone, and the time limit
holds on a worker. The tests that need Dask skip without it (``pip install -e '.[dask]'``);
CI's step 3 installs it and runs this file, where a skip fails the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import fake_dist

# dies_once: the first forward anywhere says where it runs (its pid, in DEZERO_TEST_MARKS)
# and waits for the test to kill that worker; once killed, it is an ordinary op.
CLUSTER_OPS = """
import os
import time
from dezero_ext import Function, OpDef, hookimpl

def _marks(name):
    return os.path.join(os.environ["DEZERO_TEST_MARKS"], name)

class DiesOnce(Function):
    def forward(self, x):
        if not os.path.exists(_marks("killed")):
            with open(_marks("pid.tmp"), "w") as f:
                f.write(str(os.getpid()))
            os.replace(_marks("pid.tmp"), _marks("pid"))
            give_up = time.monotonic() + 600
            while not os.path.exists(_marks("killed")) and time.monotonic() < give_up:
                time.sleep(0.01)
        return 4 * x

    def backward(self, gy):
        return 4 * gy

class Waits(Function):  # says it has begun, then waits for the test to release it
    mark = "waiting"

    def forward(self, x):
        open(_marks(self.mark), "w").close()
        give_up = time.monotonic() + 600
        while not os.path.exists(_marks("released")) and time.monotonic() < give_up:
            time.sleep(0.01)
        return 5 * x

    def backward(self, gy):
        return 5 * gy

class WaitsToo(Waits):
    mark = "waiting too"

class ExitsAlways(Function):
    def forward(self, x):
        os._exit(9)

    def backward(self, gy):
        return gy

class WrongGrad(Function):  # a wrong backward: a FAIL with its report
    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return 3 * gy

class Spins(Function):
    def forward(self, x):
        while True:
            pass

    def backward(self, gy):
        return gy

@hookimpl
def dezero_ext_ops():
    return [OpDef("dies_once", DiesOnce), OpDef("exits_always", ExitsAlways),
            OpDef("spins", Spins), OpDef("waits", Waits), OpDef("wrong_grad", WrongGrad),
            OpDef("waits_too", WaitsToo)]
"""

# A LocalCluster of two worker processes (one thread each) in its own process, which ends it
# when its stdin closes. A task is given up after 2 workers die running it (the default is 4).
LAUNCH = """
import sys
from distributed import LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_dist.install(tmp_path_factory.mktemp("site"), "fake_cluster_ops", CLUSTER_OPS)


@pytest.fixture(scope="module")
def marks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marks")


def _env(site: Path, marks: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(site), "DEZERO_TEST_MARKS": str(marks), **extra}
    for name in ("DEZERO_EXT_PLUGINS", "DEZERO_EXT_STRICT_PLUGINS"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def scheduler(site: Path, marks: Path) -> Iterator[str]:
    pytest.importorskip("distributed", reason="needs dask.distributed: pip install -e '.[dask]'")
    env = _env(site, marks, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
    cluster = subprocess.Popen(
        [sys.executable, "-c", LAUNCH],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert cluster.stdin is not None and cluster.stdout is not None
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), f"the cluster did not start: {address!r}"
        yield address
    finally:
        cluster.stdin.close()
        try:
            cluster.wait(60)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()


def _cli(site: Path, marks: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dezero_ext", *args],
        capture_output=True,
        text=True,
        env=_env(site, marks),
        check=False,
        timeout=600,
    )


def _rows(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(result.stdout)["ops"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _table_row(row: dict[str, Any]) -> list[str]:
    """A JSON row as the table shows it."""
    orders = ",".join(map(str, row["orders"]))
    counts = [str(row["examples"]), str(row["kink_hits"]), f"{row['worst_rel_error']:.1e}"]
    return [row["op"], row["plugin"], orders, *counts, row["verdict"]]


def test_a_cluster_gives_the_json_and_the_table_of_one_process(
    site: Path, marks: Path, scheduler: str
) -> None:
    ops = ["abs", "matmul", "relu", "get_item"]
    runs = {}
    for where in (["-j", "1"], ["--scheduler", scheduler]):
        result = _cli(
            site, marks, "check", *ops, "--examples", "3", "--seed", "7", "--json", *where
        )
        assert result.returncode == 0, result.stderr
        runs[where[0]] = _rows(result)
    assert runs["-j"] == runs["--scheduler"]
    assert [row["op"] for row in runs["--scheduler"]] == ops  # in the order named
    table = _cli(site, marks, "check", *ops, "--examples", "3", "--seed", "7", "--scheduler",
                 scheduler)  # fmt: skip
    assert table.returncode == 0, table.stderr
    header, _rule, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["op", "plugin", "orders"]
    shown = [line.split() for line in lines[: len(ops)]]  # the rows, in the order named
    wanted = [_table_row(row) for row in runs["-j"]]
    assert shown == wanted
    assert lines[-1].endswith("all passed")


def test_a_worker_lost_mid_check_costs_nothing_and_a_dying_op_only_itself(
    site: Path, marks: Path, scheduler: str
) -> None:
    command = [sys.executable, "-m", "dezero_ext", "check", "dies_once", "exits_always", "sin"]
    run = subprocess.Popen(
        [*command, "--examples", "3", "--json", "--scheduler", scheduler],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(site, marks),
    )
    give_up = time.monotonic() + 300
    while not (marks / "pid").exists() and time.monotonic() < give_up and run.poll() is None:
        time.sleep(0.05)
    worker = int((marks / "pid").read_text())  # the worker checking dies_once
    os.kill(worker, signal.SIGKILL)
    (marks / "killed").touch()
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 1, stderr
    rows = {row["op"]: row for row in json.loads(stdout)["ops"]}
    assert rows["dies_once"]["verdict"] == "ok", rows["dies_once"]["report"]  # run again
    assert rows["sin"]["verdict"] == "ok", rows["sin"]["report"]
    assert rows["exits_always"]["verdict"] == "ERROR"
    assert "died" in rows["exits_always"]["report"]
    assert "dezero-ext check exits_always -j 1" in rows["exits_always"]["report"]


def test_the_time_limit_holds_on_a_worker(site: Path, marks: Path, scheduler: str) -> None:
    result = _cli(
        site, marks, "check", "spins", "exp", "--examples", "1", "--timeout", "5", "--json",
        "--scheduler", scheduler,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    rows = {row["op"]: row for row in json.loads(result.stdout)["ops"]}
    assert rows["spins"]["verdict"] == "TIMEOUT", rows["spins"]
    assert "timed out after 5 s in forward" in rows["spins"]["report"]
    assert rows["exp"]["verdict"] == "ok", rows["exp"]["report"]


def test_an_unreachable_scheduler_is_one_line_naming_it() -> None:
    pytest.importorskip("distributed", reason="needs dask.distributed: pip install -e '.[dask]'")
    from dezero_ext.testing.cluster import ClusterError, connect

    with pytest.raises(
        ClusterError, match=r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"
    ):
        connect("tcp://127.0.0.1:1", timeout=0.5)


def test_scheduler_usage_errors_are_one_line_and_exit_2(site: Path, marks: Path) -> None:
    both = _cli(site, marks, "check", "sin", "-j", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "dezero-ext check: -j and --scheduler exclude each other (the cluster's workers are "
        "the processes)"
    ]
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from dezero_ext.cli import main\n"
        "sys.exit(main(['check', 'sin', '--scheduler', 'tcp://127.0.0.1:1']))"
    )
    missing = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert missing.returncode == 2, missing.stderr
    assert "pip install 'dask[distributed]'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_pytest_plugin_checks_each_op_on_the_cluster(
    site: Path, marks: Path, scheduler: str, tmp_path: Path
) -> None:
    ops = ["--dezero-ext-op", "sin", "--dezero-ext-op", "wrong_grad", "--dezero-ext-op", "abs"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *ops, "-k", "not abs",
         "--dezero-ext-examples", "3", "--dezero-ext-scheduler", scheduler],
        capture_output=True, text=True, env=_env(site, marks), cwd=tmp_path, check=False,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: " in result.stdout and "wrong_grad" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("1 failed, 1 passed, 1 deselected"), (
        result.stdout
    )
    assert "FAILED dezero_ext_ops::wrong_grad[cluster]" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_prints_what_the_cluster_checked(
    site: Path, marks: Path, scheduler: str, signum: int
) -> None:
    # 'waits' and 'waits_too' are in flight (one per worker), 'exp' not submitted yet, when
    # the signal comes: Ctrl-C lets both finish and submits nothing more; SIGTERM stops at once
    for name in ("waiting", "waiting too", "released"):  # (the workers' marks: the module's)
        (marks / name).unlink(missing_ok=True)
    run = subprocess.Popen(
        [sys.executable, "-m", "dezero_ext", "check", "waits", "waits_too", "exp", "--examples",
         "2", "--scheduler", scheduler],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(site, marks),
    )  # fmt: skip
    try:
        give_up = time.monotonic() + 300
        while time.monotonic() < give_up and not all(
            (marks / name).exists() for name in ("waiting", "waiting too")
        ):
            time.sleep(0.05)
        run.send_signal(signum)
        seen = ""
        while signum == signal.SIGINT and "finishing" not in seen:  # it has landed
            assert run.stderr is not None
            line = run.stderr.readline()
            assert line, f"the command ended before it took the Ctrl-C: {seen}"
            seen += line
        (marks / "released").touch()
        stdout, stderr = run.communicate(timeout=300)
        stderr = seen + stderr
    finally:
        (marks / "released").touch()
        if run.poll() is None:
            run.kill()
            run.wait()
    assert "Traceback" not in stdout + stderr, stderr
    assert "exp " not in stdout  # never submitted
    if signum == signal.SIGINT:
        assert run.returncode == 130, stderr
        assert "finishing the checks in progress" in stderr
        assert "INTERRUPTED after 2 of 3 ops" in stdout
        assert {line.split()[0] for line in stdout.splitlines()[2:4]} == {"waits", "waits_too"}
    else:
        assert run.returncode == 143, stderr
        assert "dezero-ext: stopped by SIGTERM" in stderr
        assert "INTERRUPTED after" in stdout and "waits " not in stdout
