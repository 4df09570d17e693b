"""Files that are whole or absent: written under a temporary name, fsynced, then renamed.

A signal, a crash or a full disk while writing leaves the previous file (or none) and at
most a `.NAME.partial-PID` temporary beside it, never a truncated NAME: readers of a
results folder see either the earlier version of a file or the finished new one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PARTIAL_MARK = ".partial-"
"""Temporary files are named `.NAME.partial-PID`; anything so named is a leftover."""


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def partial_name(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(f".{path.name}{PARTIAL_MARK}{os.getpid()}")


@contextlib.contextmanager
def atomic_binary(path: Path, sync_folder: bool = True) -> Iterator[IO[bytes]]:
    """A binary handle whose contents replace `path` only once the block ends without error.

    `sync_folder=False` leaves the folder's fsync (which makes the rename durable) to a later
    write in the same folder: one fsync of the folder covers every rename before it."""
    temporary = partial_name(path)
    handle = temporary.open("wb")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
            handle.close()
        temporary.unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_text(path: Path, sync_folder: bool = True) -> Iterator[IO[str]]:
    """atomic_binary for UTF-8 text."""
    with atomic_binary(path, sync_folder) as raw, open(raw.fileno(), "w", encoding="utf-8", closefd=False) as text:
        yield text
        text.flush()


def write_text_atomic(path: Path, text: str, sync_folder: bool = True) -> None:
    """The whole of `text` at `path`, or the file as it was."""
    with atomic_binary(path, sync_folder) as handle:
        handle.write(text.encode("utf-8"))
