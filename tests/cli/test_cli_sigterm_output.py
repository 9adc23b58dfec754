"""SIGTERM while ``dezero-ext check`` is writing its table: exit 143 with one line on stderr,
no traceback, no row written twice, and no hang on a reader that stopped reading.

The command's stdout is a one-page pipe the test fills first, leaving ``room`` bytes: the
command blocks in ``write(1, ...)`` at a known point (the first streamed row, or the failure
reports after the table), which the test sees in ``/proc/PID/task/*/syscall`` before it sends
SIGTERM: an event, not a guessed delay."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import fake_dist

WRONG = """
from dezero_ext import Function, OpDef, hookimpl

class Wrong(Function):
    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return 3 * gy

@hookimpl
def dezero_ext_ops():
    return [OpDef(f"wrong_{i}", Wrong) for i in range(4)]
"""
_PAGE = 4096
_WRITES = {"1", "64"}  # write(2) on x86_64, aarch64


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_dist.install(tmp_path_factory.mktemp("site"), "fake_wrong", WRONG)


def _blocked_writing_stdout(pid: int) -> bool:
    """Whether a thread of process ``pid`` waits in ``write(1, ...)``."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:  # ended meanwhile
            continue
        if len(fields) > 1 and fields[0] in _WRITES and fields[1] == "0x1":
            return True
    return False


@pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ") or not Path("/proc/self/syscall").exists(),
    reason="Linux: a one-page pipe; /proc/PID/task/*/syscall shows the command blocked in write",
)
@pytest.mark.parametrize(
    ("room", "where"), [(0, "the first row"), (1024, "the reports after the table")]
)
def test_sigterm_while_the_table_is_written_ends_cleanly_with_143(
    site: Path, room: int, where: str
) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PAGE)
    filler = os.write(write_end, b"#" * (_PAGE - room))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DEZERO_EXT_PLUGINS", None)
    ops = [f"wrong_{i}" for i in range(4)]
    process = subprocess.Popen(
        [sys.executable, "-m", "dezero_ext", "check", *ops, "--examples", "1"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    os.close(write_end)
    try:
        deadline = time.monotonic() + 300  # only keeps a broken run from hanging the suite
        while not _blocked_writing_stdout(process.pid):
            assert process.poll() is None, f"ended before it blocked at {where}"
            assert time.monotonic() < deadline, f"never blocked writing {where}"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGTERM)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        assert process.stderr is not None
        err = process.stderr.read().decode()
        process.wait(timeout=300)
    finally:
        os.close(read_end)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    out = b"".join(chunks)[filler:].decode()
    assert process.returncode == 143, (process.returncode, err)
    assert "dezero-ext: stopped by SIGTERM" in err
    assert "Traceback" not in out + err and "Exception ignored" not in err, err
    lines = out.splitlines()
    assert lines and lines[0].startswith("op "), out
    assert sum(line.startswith("op ") for line in lines) == 1, out  # one header
    rows = [line.split()[0] for line in lines if line.startswith("wrong_")]
    assert rows == ops[: len(rows)], out  # each row once, in order
