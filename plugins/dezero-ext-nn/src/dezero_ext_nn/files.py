"""Downloaded files (pretrained weights, datasets) in one cache directory, DeZero's
``get_file`` with a checksum and an offline error that says what to do.

The directory is ``$DEZERO_EXT_DATA`` when set, else ``~/.dezero_ext`` (DeZero used
``~/.dezero``). ``get_file(url)`` returns the cached file, downloading it first when it is
not there. Every file is checked against a SHA-256:

- the one given (``sha256=``), when the caller knows it;
- else the one recorded beside the file (``<name>.sha256``) when it was first downloaded, so
  a file damaged or replaced later is caught (trust on first use: the first download itself
  is checked against nothing, and the docs say so). A file put in the directory by hand and
  never downloaded has no record; its checksum is recorded at its first use.

A download goes to a temporary file renamed into place when complete, so an interrupted one
leaves no partial file. Without a network the error (``DataFileMissingError``) names the file,
the URLs tried and the path to put it at.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

__all__ = [
    "ChecksumError",
    "DataFileMissingError",
    "cache_dir",
    "get_file",
    "sha256_of",
]

ENV_VAR = "DEZERO_EXT_DATA"

Opener = Callable[[str], IO[bytes]]
"""How a URL is opened: ``urllib.request.urlopen`` unless a test gives another."""


class DataFileMissingError(FileNotFoundError):
    """A file is not in the cache and could not be downloaded (no network, say)."""


class ChecksumError(ValueError):
    """A file's SHA-256 is not the one expected: it is damaged, or another file."""


def cache_dir() -> Path:
    """The directory of downloaded files: ``$DEZERO_EXT_DATA``, else ``~/.dezero_ext``."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".dezero_ext"


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _urlopen(url: str) -> IO[bytes]:
    response: IO[bytes] = urllib.request.urlopen(url, timeout=60)
    return response


def get_file(
    url: str | Sequence[str],
    file_name: str | None = None,
    *,
    sha256: str | None = None,
    opener: Opener | None = None,
    quiet: bool = False,
) -> Path:
    """The path of ``file_name`` (default: the URL's last part; ``folder/name`` puts it in a
    folder of the cache) in ``cache_dir()``,
    downloaded from ``url`` (or from the first of several mirror URLs that answers) when it is
    not there yet, and checked against its SHA-256 (see the module's docstring).

    Raises ``DataFileMissingError`` when the file is missing and cannot be downloaded, and
    ``ChecksumError`` when its checksum is wrong (a bad download is removed; a bad cached file
    is left for you to look at, and named).
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("get_file: no URL given")
    name = file_name if file_name is not None else urls[0].rsplit("/", 1)[-1]
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"get_file: {name!r} is not a file name (or folder/name) inside the cache; pass "
            "file_name="
        )
    folder = cache_dir()
    path = folder / name
    record = folder / f"{name}.sha256"
    if path.exists():
        _check_cached(path, record, sha256)
        return path
    failures = _download(urls, path, opener or _urlopen, quiet)
    if failures is not None:
        tried = "\n".join(f"  - {u}: {why}" for u, why in failures)
        raise DataFileMissingError(
            f"{name} is not in the cache and could not be downloaded; tried:\n{tried}\n"
            f"Download it elsewhere and put it at {path} (or set {ENV_VAR} to the folder that "
            "holds it)."
        )
    got = sha256_of(path)
    if sha256 is not None and got != sha256.lower():
        path.unlink()
        raise ChecksumError(
            f"{name} downloaded from {urls} has SHA-256 {got}, expected {sha256}: removed; "
            "the mirror may serve another version"
        )
    record.write_text(f"{got}  {name}\n")
    return path


def _check_cached(path: Path, record: Path, sha256: str | None) -> None:
    got = sha256_of(path)
    fields = record.read_text().split() if record.exists() else []
    recorded = fields[0] if fields else None
    expected = sha256.lower() if sha256 is not None else recorded
    source = "expected" if sha256 is not None else f"recorded in {record}"
    if expected is not None and got != expected:
        raise ChecksumError(
            f"{path} has SHA-256 {got}, but {expected} was {source}: the file is damaged or "
            f"another one; delete it (and {record.name}) to download it again"
        )
    if recorded is None:
        record.write_text(f"{got}  {path.name}\n")


def _download(
    urls: list[str], path: Path, opener: Opener, quiet: bool
) -> list[tuple[str, str]] | None:
    """Download the first URL that answers to ``path``; the failures when none does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    for url in urls:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            if not quiet:
                print(f"Downloading {url} to {path}", file=sys.stderr)
            with opener(url) as response, open(tmp, "xb") as out:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
            os.replace(tmp, path)
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append((url, f"{type(exc).__name__}: {exc}"))
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return failures
