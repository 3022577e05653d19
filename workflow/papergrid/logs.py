"""Send a job's logging, progress bars and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import io
import logging
import sys
import traceback
from typing import TextIO


class LogStream(io.TextIOBase):
    """The job's log file; once it cannot be written (a full disk), the console.

    Without the fallback a job on a full disk leaves an empty log and Python's own
    "lost sys.stderr" on the console, and the reason never reaches the user."""

    def __init__(self, path: str, console: TextIO):
        self.path, self.console = path, console
        self.file: TextIO | None = None
        try:
            self.file = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        except OSError as err:
            self._give_up(err)

    def _give_up(self, err: OSError) -> None:
        self.file = None
        self.console.write(
            f"papergrid: cannot write the job's log {self.path} ({err.strerror}); "
            "its output follows here\n"
        )

    def write(self, text: str) -> int:
        if self.file is not None:
            try:
                return self.file.write(text)
            except OSError as err:
                self._give_up(err)
        return self.console.write(text)

    def flush(self) -> None:
        if self.file is not None:
            try:
                self.file.flush()
                return
            except OSError as err:
                self._give_up(err)
        self.console.flush()

    def writable(self) -> bool:
        return True


def report_uncaught(console: TextIO):
    """An excepthook: the traceback to the log (``sys.stderr``), and a full disk said on
    the console in one line too, where the user looks first."""
    from papergrid.io import DISK_FULL_ERRNOS

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb, file=sys.stderr)
        seen = value
        while seen is not None:
            if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
                console.write(f"papergrid: {seen}\n")
                break
            seen = seen.__cause__ or seen.__context__
        sys.stderr.flush()

    return hook


def setup_logging(path: str | None) -> None:
    """Log to ``path`` and point ``sys.stderr`` there too.

    Progress bars (tqdm writes to stderr) and tracebacks then land in the job's log
    rather than interleaving on the terminal of a multi-job run.
    """
    stream = sys.stderr
    if path:
        console = sys.stderr
        stream = LogStream(path, console)
        sys.stderr = stream
        sys.excepthook = report_uncaught(console)
    logging.basicConfig(
        level=logging.INFO,
        handlers=[logging.StreamHandler(stream)],
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
