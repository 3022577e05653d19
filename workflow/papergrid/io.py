"""Atomic file writes: a killed job never leaves a half-written result.

Every writer goes through :func:`atomic_path`, which hands out a temporary file in
the destination folder and renames it into place only after the writer returned.
``os.replace`` within one filesystem is atomic, so a reader sees either the old
file, no file, or the complete new one. A write that fails for lack of space raises
:class:`DiskFullError`, which says so and names the file, whatever library was writing
(torch and pyarrow report a full disk in words of their own).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
LOW_SPACE = 1 << 20  # bytes: a write that fails with less room than this ran out of it


class DiskFullError(OSError):
    """A result could not be written for lack of space (nothing partial was left)."""


def free_bytes(folder: str | os.PathLike) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def is_disk_full(err: BaseException, folder: str | os.PathLike) -> bool:
    """Whether ``err``, raised while writing into ``folder``, comes from a full disk: an
    ENOSPC or EDQUOT anywhere in its chain, or any failed write while the filesystem has
    almost no room left (torch's "unexpected pos", pyarrow's IO errors)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    if not isinstance(err, Exception):  # KeyboardInterrupt, SystemExit
        return False
    free = free_bytes(folder)
    return free is not None and free < LOW_SPACE


def disk_full_error(dest: Path) -> DiskFullError:
    free = free_bytes(dest.parent)
    room = "" if free is None else f" ({free:,} bytes free there)"
    return DiskFullError(
        errno.ENOSPC,
        f"no space left on device writing {dest}{room}; free some space and rerun: "
        "outputs already written are complete and kept",
    )


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success."""
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # The suffix is kept so writers that infer a format from it (savefig) still work.
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
    except OSError as err:
        if is_disk_full(err, dest.parent):
            raise disk_full_error(dest) from err
        raise
    # mkstemp makes the file private (0600); results are shared, so give it the mode a
    # plain open() would: 0666 less the umask
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        if not isinstance(err, DiskFullError) and is_disk_full(err, dest.parent):
            raise disk_full_error(dest) from err
        raise


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
