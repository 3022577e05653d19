import logging
import sys

from tqdm import tqdm

from papergrid.logs import setup_logging


def test_logging_and_progress_bars_go_to_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored after the test
    path = tmp_path / "job.log"
    setup_logging(str(path))
    logging.getLogger("papergrid.test").info("hello %d", 3)
    for _ in tqdm(range(3), desc="bar"):
        pass
    sys.stderr.flush()
    text = path.read_text()
    assert "hello 3" in text and "bar: 100%" in text
