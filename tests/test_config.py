import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow/schemas/config.schema.yaml")


def default():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize(
    "path",
    ["config.yaml", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config").glob("*.yaml"))],
)
def test_shipped_configs_are_valid(path):
    validate_config(yaml.safe_load((ROOT / path).read_text()), SCHEMA)


def set_key(cfg, dotted, value):
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    node[last] = value
    return cfg


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "weights.grid.optimizer",
            ["sgd", "rmsprop"],
            r"weights\.grid\.optimizer\[1\]: 'rmsprop' is not allowed; "
            r"allowed values: \['sgd', 'adam', 'adamw'\]",
        ),
        ("weights.grid.width", [], r"weights\.grid\.width: needs at least 1 item"),
        (
            "weights.grid.width",
            [16, -4],
            r"weights\.grid\.width\[1\]: -4 is out of range; must be > 0",
        ),
        ("weights.train.epochs", 0, r"weights\.train\.epochs: 0 is out of range"),
        (
            "weights.train.batch_size",
            "big",
            r"weights\.train\.batch_size: 'big' has the wrong type",
        ),
        ("weights.bogus", 1, r"weights: unknown key\(s\) \['bogus'\]; allowed keys: \['analysis'"),
        (
            "device",
            "tpu",
            r"device: 'tpu' is not allowed; allowed values: \['auto', 'cpu', 'cuda'\]",
        ),
        (
            "weights.data.source",
            "idx",
            r"weights\.data\.idx\.train_images: None has the wrong type",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(key, value, message):
    cfg = set_key(copy.deepcopy(default()), key, value)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)
