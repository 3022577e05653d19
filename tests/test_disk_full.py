"""A full disk says so, names the file, and leaves nothing half-written."""

import errno
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest

from papergrid import io
from papergrid.io import DiskFullError, atomic_path, write_text

from .conftest import ROOT

Usage = namedtuple("Usage", "total used free")


def test_a_write_that_runs_out_of_space_names_the_file(tmp_path):
    dest = tmp_path / "runs.parquet"
    with pytest.raises(DiskFullError) as err:
        with atomic_path(dest) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.errno == errno.ENOSPC
    assert f"no space left on device writing {dest}" in str(err.value)
    assert "rerun" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_a_library_error_on_a_full_disk_becomes_a_disk_full_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(100, 100, 0))
    with pytest.raises(DiskFullError, match="0 bytes free"):
        with atomic_path(tmp_path / "model.pt"):
            # torch.save's words for a full disk
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos")


def test_other_errors_pass_through_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(100, 0, 10**9))
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with atomic_path(tmp_path / "model.pt"):
            raise RuntimeError("unexpected pos")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "x.txt"):
            raise KeyboardInterrupt


def test_an_errno_deep_in_the_chain_counts(tmp_path):
    try:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    except OSError as inner:
        outer = RuntimeError("write failed")
        outer.__cause__ = inner
    assert io.is_disk_full(outer, tmp_path)


def test_a_job_whose_log_cannot_be_written_reports_on_the_console(tmp_path):
    """/dev/full fails every write with ENOSPC: the job's output and its reason must
    still reach the console, not Python's "lost sys.stderr"."""
    code = (
        "import sys, errno\n"
        "from papergrid.logs import setup_logging\n"
        "from papergrid.io import write_text\n"
        "setup_logging('/dev/full')\n"
        "import logging; logging.getLogger('job').info('training step 3')\n"
        "raise OSError(errno.ENOSPC, 'No space left on device')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "workflow"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert "cannot write the job's log /dev/full (No space left on device)" in proc.stderr
    assert "training step 3" in proc.stderr
    assert "papergrid: [Errno 28] No space left on device" in proc.stderr
    assert "lost sys.stderr" not in proc.stderr


def test_write_text_refuses_a_full_disk_by_name(tmp_path, monkeypatch):
    real = io.Path.write_text

    def full(self, *a, **k):
        real(self, "half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.Path, "write_text", full)
    with pytest.raises(DiskFullError, match="REPORT.md"):
        write_text("done", tmp_path / "REPORT.md")
    assert list(tmp_path.iterdir()) == []
