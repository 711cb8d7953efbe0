"""Data files readable by their owner only: the SQLite file holds password hashes.

Directories are made 0700 and files 0600 whatever the umask; an existing database file that
an older version left 0644 is tightened when it is next opened.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create a directory (and its parents) that only its owner may enter, if absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> Path:
    """Create the file empty with mode 0600 if absent; tighten it to 0600 if it is ours."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, PRIVATE_FILE)
    os.close(fd)
    with contextlib.suppress(PermissionError):  # someone else's file: leave it to them
        os.chmod(path, PRIVATE_FILE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write bytes to a new or truncated file of mode 0600."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, PRIVATE_FILE)
