import copy

import pytest
import yaml

from papergrid.config import ConfigError
from papergrid.lpo.grid import baseline_runs, check_block, head_runs, run_id

from ..conftest import ROOT

BLOCK = yaml.safe_load((ROOT / "config.yaml").read_text())["lpo"]


def with_(path, value):
    block = copy.deepcopy(BLOCK)
    node = block
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return block


def test_the_default_block_passes():
    check_block(BLOCK)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("temperatures",), [], "lpo.temperatures: empty"),
        (("temperatures",), [0.0, 0.4, 0.2], "strictly increasing"),
        (("temperatures",), [-0.2, 0.5], "negative"),
        (("temperatures",), [0.5], "one value"),
        (("data", "n_samples"), 1, "lpo.data.n_samples"),
        (("grid", "loss"), ["lpo", "dpo"], "unknown loss 'dpo'"),
        (("grid", "variant"), ["seq", "word"], "unknown variant 'word'"),
        (("beta",), {"nll": 1.0}, "lpo.beta: 'nll' has no beta"),
    ],
)
def test_bad_blocks_name_the_key_and_what_is_allowed(path, value, message):
    with pytest.raises(ConfigError, match=message):
        check_block(with_(path, value))


def test_every_run_has_its_own_id():
    runs = [r for s in (0, 1) for r in head_runs(BLOCK, s) + baseline_runs(BLOCK, s)]
    ids = [run_id(r) for r in runs]
    assert len(set(ids)) == len(ids)
    n_heads = len(BLOCK["grid"]["variant"]) * len(BLOCK["grid"]["loss"])
    assert len(runs) == 2 * (n_heads + len(BLOCK["temperatures"]) + 1)
