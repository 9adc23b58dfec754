"""A worker's death on a Dask cluster costs only the op that caused it
(``testing/cluster.py``): Dask counts a death against every task on the dying worker, the one
running and those waiting there, so an op that kills its workers can make the scheduler give up
(``KilledWorker``) on an innocent op that waited beside it. Such an op is checked again alone
once the rest are done; only an op that dies alone is an ``ERROR``.

A fake scheduler stands in for Dask here (no ``distributed`` needed): tasks in flight share
one worker, and a task of a killing op fails every task in flight with it, as the real
scheduler did at allowed-failures=1 when a worker was restarting (the CLI test of the same
thing on a ``LocalCluster`` failed 1 run in 2 under load before)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace

import pytest

from dezero_ext.registry import get_registry
from dezero_ext.testing import CheckOptions, OpCheckResult, cluster
from dezero_ext.testing.interrupts import Interrupts


class WorkerKilledError(Exception):
    pass


class FakeFuture:
    def __init__(self, name: str) -> None:
        self.name = name
        self.error: Exception | None = None

    def result(self) -> OpCheckResult:
        if self.error is not None:
            raise self.error
        return OpCheckResult(self.name, None, (1,), 1, 0, 0.0, 0.0, "ok", "")


class FakeClient:
    """Every task in flight is on one worker; ``killers`` end it. Records what was in flight
    each time a task was submitted."""

    loop = None

    def __init__(self, killers: set[str], workers: int = 2) -> None:
        self.killers = killers
        self.workers = workers
        self.flight: list[FakeFuture] = []
        self.submitted: list[tuple[str, int]] = []  # (op, tasks in flight after the submit)

    def submit(
        self, func: Callable[..., OpCheckResult], /, *args: object, pure: bool
    ) -> FakeFuture:
        future = FakeFuture(str(args[0]))
        self.flight.append(future)
        self.submitted.append((future.name, len(self.flight)))
        return future

    def cancel(self, futures: Sequence[object]) -> object:
        return None

    def nthreads(self) -> dict[str, int]:
        return {f"w{i}": 1 for i in range(self.workers)}

    def close(self) -> object:
        return None

    def finish_next(self) -> FakeFuture:
        """The first task in flight ends; a killer takes down every task in flight with it."""
        first = self.flight[0]
        if first.name in self.killers:
            for future in self.flight:
                future.error = WorkerKilledError(f"{first.name} killed the worker")
            done, self.flight = self.flight, []
            self._queue.extend(done[1:])
            return first
        self.flight.pop(0)
        return first

    _queue: list[FakeFuture]


class FakeCompleted:
    def __init__(self, client: FakeClient) -> None:
        self.client = client
        client._queue = []

    def add(self, future: FakeFuture) -> None:
        pass

    def __next__(self) -> FakeFuture:
        if self.client._queue:
            return self.client._queue.pop(0)
        return self.client.finish_next()


def _run(
    monkeypatch: pytest.MonkeyPatch, client: FakeClient, names: list[str]
) -> list[OpCheckResult]:
    fake = SimpleNamespace(
        KilledWorker=WorkerKilledError, as_completed=lambda loop: FakeCompleted(client)
    )
    monkeypatch.setattr(cluster, "_distributed", lambda: fake)
    ops = [get_registry().get(name) for name in names]
    return cluster.check_on_cluster(
        ops, CheckOptions(), scheduler=client, plugins=lambda op: None, interrupts=Interrupts()
    )


def test_an_op_killed_beside_a_killer_is_checked_again_alone_and_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeClient(killers={"exp"})
    results = _run(monkeypatch, client, ["exp", "sin", "cos"])
    verdicts = {r.op: r.verdict for r in results}
    assert verdicts == {"exp": "ERROR", "sin": "ok", "cos": "ok"}
    exp = next(r for r in results if r.op == "exp")
    assert "checked again alone, it died again" in (exp.report or "")
    # the killer and its victim (sin, in flight beside it) were submitted again, each alone
    assert client.submitted[-2:] == [("exp", 1), ("sin", 1)]
    assert [r.op for r in results] == ["exp", "sin", "cos"]  # in the order given


def test_without_deaths_nothing_is_checked_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient(killers=set())
    results = _run(monkeypatch, client, ["exp", "sin", "cos"])
    assert [r.verdict for r in results] == ["ok", "ok", "ok"]
    assert [name for name, _ in client.submitted] == ["exp", "sin", "cos"]
    assert max(flight for _, flight in client.submitted) == 2  # one task per worker
