"""Send a job's logging, progress bars and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import logging
import sys


def setup_logging(path: str | None) -> None:
    """Log to ``path`` and point ``sys.stderr`` there too.

    Progress bars (tqdm writes to stderr) and tracebacks then land in the job's log
    rather than interleaving on the terminal of a multi-job run.
    """
    stream = sys.stderr
    if path:
        stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        handlers=[logging.StreamHandler(stream)],
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
