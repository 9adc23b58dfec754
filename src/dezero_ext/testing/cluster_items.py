"""The pytest plugin's ``--dezero-ext-scheduler ADDRESS``: each selected op is one test,
``dezero_ext_ops::<op>[cluster]``, checked on the Dask cluster of that scheduler as
``dezero-ext check --scheduler`` checks it (``check_op``: every order, the extreme shapes, the
claims, the forward-mode rule; ``testing/cluster.py``). The first such test to run submits the
checks of all of them that were not deselected; each test then waits for its own op's result,
and fails with its report (``FAIL``, ``ERROR``, ``TIMEOUT``) as ``dezero-ext check`` prints it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from dezero_ext.opdef import OpDef
from dezero_ext.testing.cluster import ClusterError, check_on_cluster, connect
from dezero_ext.testing.options import CheckOptions
from dezero_ext.testing.parallel import Interrupts
from dezero_ext.testing.runner import OpCheckResult

__all__ = ["ClusterCheck", "cluster_items"]


class _Run:
    """The cluster checks of one session, run in a thread as results come back."""

    def __init__(self, address: str, options: CheckOptions) -> None:
        self.address = address
        self.options = options
        self.results: dict[str, OpCheckResult] = {}
        self.error: str | None = None
        self.interrupts = Interrupts()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._ended = False

    def start(self, ops: Sequence[OpDef], plugins: dict[str, str | None]) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._work, args=(ops, plugins), name="dezero-ext-cluster", daemon=True
        )
        self._thread.start()

    def _work(self, ops: Sequence[OpDef], plugins: dict[str, str | None]) -> None:
        def finished(n: int, result: OpCheckResult) -> None:
            with self._changed:
                self.results[result.op] = result
                self._changed.notify_all()

        try:
            client = connect(self.address)
            try:
                check_on_cluster(
                    ops,
                    self.options,
                    scheduler=client,
                    plugins=lambda op: plugins[op.name],
                    interrupts=self.interrupts,
                    finished=finished,
                )
            finally:
                client.close()
        except ClusterError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - every waiting test says it
            self.error = f"the checks on the cluster at {self.address!r} stopped: {exc!r}"
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def wait(self, op: str) -> OpCheckResult | str:
        """The result of ``op``, or why there is none."""
        with self._changed:
            while op not in self.results and not self._ended:
                self._changed.wait(0.5)  # (a timeout: Ctrl-C reaches the main thread)
            if op in self.results:
                return self.results[op]
        return self.error or f"the cluster at {self.address!r} returned no result for op {op!r}"

    def stop(self) -> None:
        """Submit nothing more (the session ends)."""
        self.interrupts.stopping = True


class ClusterCheck(pytest.Item):
    """One op's whole check, run on the cluster."""

    def __init__(self, *, opdef: OpDef, plugin: str | None, run: _Run, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # pytest's from_parent keywords
        self.opdef = opdef
        self.plugin = plugin
        self.run = run

    def runtest(self) -> None:
        mine = [item for item in self.session.items if isinstance(item, ClusterCheck)]
        self.run.start([item.opdef for item in mine], {i.opdef.name: i.plugin for i in mine})
        result = self.run.wait(self.opdef.name)
        if isinstance(result, str):
            pytest.fail(result, pytrace=False)
        if not result.passed:
            pytest.fail(f"{result.verdict}: {result.report}", pytrace=False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return str(self.path), None, self.nodeid


def cluster_items(
    parent: pytest.Collector,
    address: str,
    ops: Sequence[tuple[OpDef, str | None]],
    options: CheckOptions,
) -> Iterator[pytest.Item]:
    """One ``ClusterCheck`` per op (with its plugin's name), sharing one run of the session."""
    run = _Run(address, options)
    parent.config.add_cleanup(run.stop)
    for opdef, plugin in ops:
        item = ClusterCheck.from_parent(
            parent, name=f"{opdef.name}[cluster]", opdef=opdef, plugin=plugin, run=run
        )
        item.add_marker(pytest.mark.dezero_ext_op(op=opdef.name, plugin=plugin, order=0))
        item.extra_keyword_matches.update({opdef.name, plugin or ""})
        yield item
