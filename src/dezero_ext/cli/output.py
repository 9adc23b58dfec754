"""What the ``dezero-ext`` command writes, and its exit status: stdout that may be a closed
pipe or a full disk, stderr for one-line errors, and the tables."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Final

from dezero_ext.registry import OpRegistry

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_HANGUP",
    "EXIT_OUTPUT",
    "EXIT_PIPE",
    "EXIT_SIGNAL",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "OutputError",
    "StreamedTable",
    "err",
    "out",
    "plugin_failures",
    "table",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_OUTPUT: Final = 74  # EX_IOERR in sysexits.h
EXIT_SIGNAL: Final = 128  # + the signal's number, what a shell reports for a process it ended
EXIT_HANGUP: Final = 129  # 128 + SIGHUP
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT
EXIT_PIPE: Final = 141  # 128 + SIGPIPE
EXIT_STOPPED: Final = 143  # 128 + SIGTERM

EXIT_CODES: Final = {
    EXIT_OK: "every op checked passed or was n/a (--backend) (ops: the listing was printed)",
    EXIT_FAILED: "an op failed its check (FAIL, ERROR or TIMEOUT)",
    EXIT_USAGE: "a usage error, or a plugin failed to load or declares an op another one does",
    EXIT_OUTPUT: "the output could not be written (a full disk, a closed file)",
    EXIT_HANGUP: "stopped by SIGHUP (its terminal closed); the ops checked so far are printed",
    EXIT_INTERRUPTED: "interrupted with Ctrl-C; the ops checked so far are printed",
    EXIT_PIPE: "the output pipe was closed (its reader stopped): nothing more is written",
    EXIT_STOPPED: "stopped by SIGTERM (kill PID); the ops checked so far are printed",
}


class OutputError(Exception):
    """Writing the standard output failed (other than a closed pipe)."""


def out(text: str = "", *, flush: bool = False) -> None:
    """Print ``text`` on stdout (``flush``: now, not when the buffer fills); a failure to
    write is an ``OutputError``, a closed pipe a ``BrokenPipeError``."""
    try:
        sys.stdout.write(text + "\n")
        if flush:
            sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(exc) from exc


def _encoding() -> str:
    return getattr(sys.stdout, "encoding", None) or "utf-8"


def _flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(exc) from exc


class _Write(threading.Thread):
    """One ``os.write`` loop off the main thread: Python runs signal handlers only in the
    main thread, so a stop signal interrupts the wait for it, never the count of bytes
    written, which a handler raising right after a write returned would lose."""

    def __init__(self, fd: int, data: bytes, start_at: int) -> None:
        super().__init__(name="dezero-ext-stdout", daemon=True)  # a stuck reader: not waited
        self.fd, self.data, self.start_at, self.written = fd, data, start_at, 0
        self.error: OSError | None = None
        self.ended = False
        # held until the write ends. Not join() (an interrupted join marks the thread stopped)
        # nor an Event (a stop raised in its Condition's bookkeeping releases a lock twice):
        # an acquire a stop cuts short takes nothing, and one it follows has ``ended`` set.
        self._running = threading.Lock()
        self._running.acquire()

    def run(self) -> None:
        try:
            while self.start_at + self.written < len(self.data):
                self.written += os.write(self.fd, self.data[self.start_at + self.written :])
        except OSError as exc:
            self.error = exc
        finally:
            self.ended = True
            self._running.release()

    def wait(self) -> None:
        """Until the write ends; a stop signal interrupts this wait, not the write."""
        if not self.ended:
            self._running.acquire()


def err(text: str) -> None:
    """A line on stderr, which may be gone too (then it is dropped)."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class StreamedTable:
    """A table written a row at a time, each as soon as the rows before it are: the widths
    are fixed up front from the cells known then (``widths``: the least width per column),
    so that ``dezero-ext check | head -1`` sees the first rows while the rest are checked and
    a closed pipe ends the run. Rows come by index (``add``), in any order; ``written`` counts
    those written, always the first ones."""

    def __init__(self, header: list[str], widths: list[int]) -> None:
        self._widths = [max(len(h), w) for h, w in zip(header, widths, strict=True)]
        self._header = header
        self._pending: dict[int, list[str]] = {}
        self._queued = b""  # every byte of the table so far; _sent of them are written
        self._sent = 0
        self._writing: _Write | None = None
        self.written = 0

    def _line(self, row: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, self._widths, strict=True)).rstrip()

    def add(self, n: int, row: list[str]) -> None:
        """Row ``n`` (from 0); written with every row before it that has come."""
        self._pending[n] = row
        while self.written in self._pending:
            self._write(self._pending.pop(self.written))

    def finish(self, rows: list[list[str]]) -> None:
        """Write ``rows`` past the ones written (all the rows, in order, at the end)."""
        self._pending.clear()
        self._drain()
        for row in rows[self.written :]:
            self._write(row)

    def _write(self, row: list[str]) -> None:
        lines = [self._line(row)]
        if self.written == 0:
            lines[:0] = [self._line(self._header), "  ".join("-" * w for w in self._widths)]
        self.written += 1
        self._queued += "\n".join(lines).encode(_encoding()) + b"\n"
        self._drain()

    def _drain(self) -> None:
        """Write what is not written yet, now. A signal that stops the run while a slow
        reader holds a write up (SIGTERM) may land between any two lines here: the count of
        bytes sent is updated only from the write that sent them, idempotently, so that
        ``finish`` neither loses a row nor writes one twice, as a stream's buffer could."""
        try:
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # no file (captured): no wait either
            out(self._queued[self._sent :].decode(_encoding()), flush=True)
            self._sent = len(self._queued)
            return
        while True:
            writing = self._writing
            if writing is not None:
                if writing.ident is None:  # a signal came before it started
                    writing.start()
                writing.wait()
                self._sent = max(self._sent, writing.start_at + writing.written)
                self._writing = None
                if isinstance(writing.error, BrokenPipeError):
                    raise writing.error
                if writing.error is not None:
                    raise OutputError(writing.error) from writing.error
            if self._sent >= len(self._queued):
                return
            _flush()  # what went before, first
            self._writing = _Write(fd, self._queued, self._sent)


def plugin_failures(registry: OpRegistry) -> list[str]:
    failures = [str(f) for f in registry.failures]
    for failure in failures:
        err(f"dezero-ext: skipped {failure}")
    return failures
