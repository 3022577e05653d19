"""Send a job's logging and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import logging
import sys


def setup_logging(path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        handlers = [logging.FileHandler(path, mode="w")]
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def hook(exc_type, exc, tb):
        logging.getLogger("papergrid").error("uncaught exception", exc_info=(exc_type, exc, tb))
        sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook
