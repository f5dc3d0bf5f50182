"""Atomic file writes: a file or folder is either complete or absent, never half-written.

Everything the package writes to disk (downloads, cached models, exports, de-identified
DICOM files, overlays, subprocess replies) goes through here. The content is written to a
temporary name in the same folder and renamed into place (``os.replace`` is atomic on one
file system); on any error the temporary is removed. Files get the usual permissions
(``0666`` less the umask), not the ``0600`` of a bare temporary file.

A leaf of the package (every layer may use it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask_mode(base: int) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


@contextlib.contextmanager
def staged_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error it is
    renamed to ``path``, otherwise removed. For writers that want a file name
    (``model.save``, ``dataset.save_as``, ``figure.savefig``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial" + target.suffix, dir=target.parent
    )
    os.close(handle)
    staging = Path(name)
    try:
        yield staging
        os.chmod(staging, _umask_mode(0o666))
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; when the block ends without error it
    replaces ``path`` (an old folder there is removed first), otherwise it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        yield staging
        os.chmod(staging, _umask_mode(0o777))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with staged_file(path) as staging:
        staging.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))
