"""A full disk, in every way SQLite reports it, reads as one line: "cannot write the embedded
store <path>: disk full, <why> while <action>; nothing of it was stored — free space (or raise
the limit) and run again". Other I/O errors are not mistaken for it."""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks.sqlite import SqliteSink, disk_full_message

TAIL = "; nothing of it was stored \N{EM DASH} free space (or raise the limit) and run again"


def _error(name: str, text: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorname = name
    return exc


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SqliteSink]:
    opened = SqliteSink(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def _translate(sink: SqliteSink, exc: sqlite3.Error) -> Exception:
    return sink._db.translate(exc, "writing 3 documents")


def test_the_message() -> None:
    assert disk_full_message("/s.sqlite3", "the store is full (x)", "writing 3 documents") == (
        "cannot write the embedded store /s.sqlite3: disk full, the store is full (x) while "
        f"writing 3 documents{TAIL}"
    )


def test_sqlite_full_is_disk_full(sink: SqliteSink) -> None:
    error = _translate(sink, _error("SQLITE_FULL", "database or disk is full"))
    assert isinstance(error, SinkUnavailableError)
    assert str(error) == (
        f"cannot write the embedded store {sink.path}: disk full, the store is full "
        f"(database or disk is full) while writing 3 documents{TAIL}"
    )


def test_a_write_beyond_the_file_size_limit_is_disk_full(
    sink: SqliteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = os.stat(sink.path).st_size
    limit = size + 4096  # the store is within a page of the limit
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limit, limit))
    error = _translate(sink, _error("SQLITE_IOERR_WRITE", "disk I/O error"))
    assert isinstance(error, SinkUnavailableError)
    assert str(error) == (
        f"cannot write the embedded store {sink.path}: disk full, the file size limit of "
        f"{limit} bytes is reached (disk I/O error) while writing 3 documents{TAIL}"
    )


def test_a_write_far_below_the_file_size_limit_is_not_disk_full(
    sink: SqliteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1 << 40, 1 << 40))
    error = _translate(sink, _error("SQLITE_IOERR_WRITE", "disk I/O error"))
    assert isinstance(error, SinkUnavailableError)
    assert str(error) == (
        f"the embedded store {sink.path} failed while writing 3 documents: disk I/O error"
    )


def test_a_failed_fsync_on_a_full_file_system_is_disk_full(
    sink: SqliteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resource, "getrlimit",
                        lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    monkeypatch.setattr(os, "statvfs",
                        lambda path: SimpleNamespace(f_bavail=3, f_frsize=4096))
    error = _translate(sink, _error("SQLITE_IOERR_FSYNC", "disk I/O error"))
    assert str(error) == (
        f"cannot write the embedded store {sink.path}: disk full, no space left on the device "
        f"(disk I/O error) while writing 3 documents{TAIL}"
    )


def test_a_read_error_is_never_disk_full(
    sink: SqliteSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "statvfs",
                        lambda path: SimpleNamespace(f_bavail=0, f_frsize=4096))
    error = _translate(sink, _error("SQLITE_IOERR_READ", "disk I/O error"))
    assert str(error) == (
        f"the embedded store {sink.path} failed while writing 3 documents: disk I/O error"
    )


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [(errno.ENOSPC, SinkUnavailableError,
      "cannot write the embedded store {path}: disk full, no space left on device while "
      "creating it" + TAIL),
     (errno.EFBIG, SinkUnavailableError,
      "cannot write the embedded store {path}: disk full, file too large while creating it"
      + TAIL),
     (errno.EACCES, SinkRejectedError,
      "cannot create the embedded store {path}: [Errno 13] Permission denied")],
)
def test_creating_the_store_without_room(
    code: int, kind: type[Exception], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "mkdir", refuse)
    path = tmp_path / "new" / "store.sqlite3"
    with pytest.raises(kind) as caught:
        SqliteSink(path)
    assert str(caught.value) == message.format(path=path)
    assert not path.exists()
