"""dezero_ext_nn.files: the cache directory, downloads that leave no partial file, checksums
(given, or recorded at first download or first use), and the offline error. No network: a
fake opener or file:// URLs."""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path
from typing import IO

import pytest

from dezero_ext_nn import files
from dezero_ext_nn.files import ChecksumError, DataFileMissingError, cache_dir, get_file


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DEZERO_EXT_DATA", str(folder))
    return folder


def test_cache_dir_is_the_variable_or_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("DEZERO_EXT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".dezero_ext"


class Interrupted(io.BytesIO):
    """A download that stops half way with Ctrl-C."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell():
            raise KeyboardInterrupt
        return super().read(4)


def test_an_interrupted_download_leaves_no_file(cache: Path) -> None:
    def opener(url: str) -> IO[bytes]:
        return Interrupted(b"0123456789")

    with pytest.raises(KeyboardInterrupt):
        get_file("https://example.invalid/data.bin", opener=opener, quiet=True)
    assert list(cache.iterdir()) == []


def test_a_download_is_recorded_and_checked_at_each_use(cache: Path) -> None:
    calls: list[str] = []

    def opener(url: str) -> IO[bytes]:
        calls.append(url)
        if "down" in url:
            raise urllib.error.URLError("mirror down")
        return io.BytesIO(b"payload")

    urls = ["https://down.invalid/a.bin", "https://up.invalid/a.bin"]
    path = get_file(urls, opener=opener, quiet=True)
    assert path == cache / "a.bin"
    assert path.read_bytes() == b"payload"
    assert calls == urls
    assert (cache / "a.bin.sha256").read_text().split() == [files.sha256_of(path), "a.bin"]
    assert get_file(urls, opener=opener, quiet=True) == path  # cached: no download
    assert len(calls) == 2
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="recorded in"):
        get_file(urls, opener=opener, quiet=True)


def test_a_given_checksum_is_checked(cache: Path) -> None:
    def opener(url: str) -> IO[bytes]:
        return io.BytesIO(b"payload")

    with pytest.raises(ChecksumError, match="expected abc"):
        get_file("https://x.invalid/b.bin", sha256="abc", opener=opener, quiet=True)
    assert not (cache / "b.bin").exists()
    good = get_file("https://x.invalid/b.bin", opener=opener, quiet=True)
    digest = files.sha256_of(good)
    assert get_file("https://x.invalid/b.bin", sha256=digest.upper(), quiet=True) == good


def test_a_file_put_by_hand_is_used_and_recorded(cache: Path) -> None:
    (cache / "sub").mkdir(parents=True)
    (cache / "sub" / "c.bin").write_bytes(b"by hand")

    def opener(url: str) -> IO[bytes]:
        raise AssertionError("no download for a file that is there")

    path = get_file("https://x.invalid/c.bin", "sub/c.bin", opener=opener)
    assert path.read_bytes() == b"by hand"
    assert (cache / "sub" / "c.bin.sha256").exists()


def test_offline_error(cache: Path) -> None:
    def opener(url: str) -> IO[bytes]:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(DataFileMissingError) as caught:
        get_file("https://x.invalid/d.bin", opener=opener, quiet=True)
    message = str(caught.value)
    assert "d.bin is not in the cache" in message
    assert "https://x.invalid/d.bin: URLError" in message
    assert f"put it at {cache / 'd.bin'}" in message
    assert isinstance(caught.value, FileNotFoundError)


@pytest.mark.parametrize("name", ["", "../x", "a/../b", "/abs"])
def test_a_name_outside_the_cache_is_refused(cache: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a file name"):
        get_file("https://x.invalid/e.bin", name)
