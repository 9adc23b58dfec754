"""Chainer in another Python, reached from this one: DeZero's own tests compare with Chainer
(``chainer.links.VGG16Layers(None)``, ``chainer.functions``), and Chainer 7.8.1 needs
NumPy < 2 while the toolkit needs NumPy >= 2.3. So Chainer runs in its own environment (a venv
with ``chainer`` and ``numpy<2``), as a server this file starts (``python chainer_bridge.py
--serve``), and ``install(python)`` puts stand-ins for ``chainer``, ``chainer.functions`` and
``chainer.links`` in ``sys.modules`` here whose every attribute, call, item and ``with`` is
carried out there.

Arrays cross by value in NumPy's own ``.npy`` format (stable across NumPy 1 and 2), as do
numbers, strings and containers; every other object stays in the server and is reached through
a ``Remote`` handle. An exception there is raised here as a ``RemoteError`` naming it. Nothing is
faked: each number the tests compare with comes from Chainer's own computation.
"""

from __future__ import annotations

import importlib
import io
import pickle
import struct
import subprocess
import sys
import types
from collections.abc import Callable
from typing import IO, cast

import numpy as np

_PLAIN = (type(None), bool, int, float, complex, str, bytes, list, tuple, dict)
_MODULES = ("chainer", "chainer.functions", "chainer.links")


class RemoteError(RuntimeError):
    """An exception raised in the server: its type's name and message."""


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _from_npy(data: bytes) -> object:
    return np.load(io.BytesIO(data), allow_pickle=False)


class _Pickler(pickle.Pickler):
    def __init__(self, file: IO[bytes], handle: Callable[[object], int]) -> None:
        super().__init__(file, protocol=4)
        self.handle = handle  # how an object that does not cross by value is named

    def persistent_id(self, obj: object) -> object:
        if isinstance(obj, np.ndarray):
            return ("nd", _npy(obj))
        if isinstance(obj, np.generic):
            return ("sc", _npy(np.asarray(obj)))
        if isinstance(obj, Remote):
            return ("h", obj._id)
        if isinstance(obj, _PLAIN):
            return None
        return ("h", self.handle(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], resolve: Callable[[int], object]) -> None:
        super().__init__(file)
        self.resolve = resolve  # handle id -> the object it names (a Remote here)

    def persistent_load(self, pid: object) -> object:
        kind, value = cast(tuple[str, object], pid)  # the pair persistent_id wrote
        if kind == "nd":
            return _from_npy(cast(bytes, value))
        if kind == "sc":
            return np.asarray(_from_npy(cast(bytes, value)))[()]  # a 0-d array's element
        return self.resolve(cast(int, value))


def _send(stream: IO[bytes], message: object, handle: Callable[[object], int]) -> None:
    buffer = io.BytesIO()
    _Pickler(buffer, handle).dump(message)
    stream.write(struct.pack("<Q", len(buffer.getvalue())) + buffer.getvalue())
    stream.flush()


def _receive(stream: IO[bytes], resolve: Callable[[int], object]) -> object:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the Chainer server closed the connection")
    (size,) = struct.unpack("<Q", header)
    return _Unpickler(io.BytesIO(stream.read(size)), resolve).load()


class Bridge:
    """The connection to one server process (``python`` runs this file with ``--serve``)."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def request(self, *message: object) -> object:
        assert self.process.stdin is not None and self.process.stdout is not None
        _send(self.process.stdin, message, _no_local_handles)
        reply = _receive(self.process.stdout, lambda i: Remote(self, i))
        status, value = cast(tuple[str, object], reply)
        if status == "err":
            raise RemoteError(value)
        return value

    def module(self, name: str) -> Remote:
        """The server's module ``name``, imported there."""
        remote = self.request("import", name)
        assert isinstance(remote, Remote)
        return remote

    def close(self) -> None:
        """Stop the server."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def _no_local_handles(obj: object) -> int:
    raise TypeError(f"{type(obj).__name__} cannot be sent to the Chainer server: send arrays")


class Remote:
    """An object that lives in the server; what is done to it is done there."""

    _bridge: Bridge
    _id: int

    def __init__(self, bridge: Bridge, ident: int) -> None:
        object.__setattr__(self, "_bridge", bridge)
        object.__setattr__(self, "_id", ident)

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # copy, pickle and NumPy probe these: not remote
        return self._bridge.request("getattr", self, name)

    def __setattr__(self, name: str, value: object) -> None:
        self._bridge.request("setattr", self, name, value)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._bridge.request("call", self, args, kwargs)

    def __getitem__(self, key: object) -> object:
        return self._bridge.request("method", self, "__getitem__", (key,))

    def __len__(self) -> int:
        return cast(int, self._bridge.request("method", self, "__len__", ()))

    def __enter__(self) -> object:
        return self._bridge.request("method", self, "__enter__", ())

    def __exit__(self, *exc: object) -> None:
        self._bridge.request("method", self, "__exit__", (None, None, None))


def install(python: str) -> Bridge:
    """Start a server with ``python`` and make ``import chainer`` (and its ``functions`` and
    ``links``) here reach it."""
    bridge = Bridge(python)
    for name in _MODULES:
        remote = bridge.module(name)
        stand_in = types.ModuleType(name, f"Chainer's {name}, in {python} (chainer_bridge.py)")
        stand_in.__getattr__ = remote.__getattr__  # type: ignore[method-assign]  # PEP 562
        sys.modules[name] = stand_in
    sys.modules["chainer"].functions = sys.modules["chainer.functions"]  # type: ignore[attr-defined]  # set at run time on a module object
    sys.modules["chainer"].links = sys.modules["chainer.links"]  # type: ignore[attr-defined]  # set at run time on a module object
    return bridge


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer requests until ``stdin`` closes (the server's loop)."""
    objects: dict[int, object] = {}

    def handle(obj: object) -> int:
        objects[id(obj)] = obj  # kept alive while the connection lasts
        return id(obj)

    while True:
        try:
            request = cast(tuple[object, ...], _receive(stdin, objects.__getitem__))
        except EOFError:
            return
        try:
            reply: tuple[str, object] = ("ok", _answer(*request))
        except Exception as e:  # noqa: BLE001  # carried back to the caller, named
            reply = ("err", f"{type(e).__name__}: {e}")
        _send(stdout, reply, handle)


def _answer(op: object, target: object, *rest: object) -> object:
    if op == "import":
        return importlib.import_module(cast(str, target))
    if op == "getattr":
        return getattr(target, cast(str, rest[0]))
    if op == "setattr":
        setattr(target, cast(str, rest[0]), rest[1])
        return None
    if op == "call":
        args, kwargs = cast(tuple[tuple[object, ...], dict[str, object]], rest)
        return cast(Callable[..., object], target)(*args, **kwargs)
    name, args = cast(tuple[str, tuple[object, ...]], rest)  # "method"
    return getattr(target, name)(*args)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    channel = sys.stdout.buffer
    sys.stdout = sys.stderr  # what the served code prints must not enter the channel
    serve(sys.stdin.buffer, channel)
