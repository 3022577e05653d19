import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError, load_config_file, load_schema, validate_config

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
            "weights.optimizers.sgd.type",
            "rmsprop",
            r"weights\.optimizers\.sgd\.type: 'rmsprop' is not allowed; "
            r"allowed values: \['sgd', 'adam', 'adamw'\]",
        ),
        (
            "weights.grid.optimizer",
            ["sgd", "Adam-W"],
            r"weights\.grid\.optimizer\[1\]: 'Adam-W' does not match",
        ),
        (
            "weights.optimizers.adam.lr",
            "auto",
            r"weights\.optimizers\.adam\.lr: 'auto'",
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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # JSON Schema itself counts 64.0 as an integer
        ("weights.grid.width", [16, 64.0], r"weights\.grid\.width\[1\]: 64\.0 has the wrong type"),
        ("lm_demo.model.d_model", 64.0, r"lm_demo\.model\.d_model: 64\.0 has the wrong type"),
        ("weights.grid.seed", [0.0], r"weights\.grid\.seed\[0\]: 0\.0 has the wrong type"),
        ("weights.grid.width", [True], r"weights\.grid\.width\[0\]: True has the wrong type"),
        # torch keeps a seed's low 32 bits: 2**32 would be seed 0 again
        (
            "weights.grid.seed",
            [0, 2**32],
            r"weights\.grid\.seed\[1\]: 4294967296 is out of range; must be <= 4294967295",
        ),
        ("sft.base.train.seed", 2**63, r"sft\.base\.train\.seed: 9223372036854775808 is out"),
        ("weights.optimizers.sgd.lr", float("nan"), r"weights\.optimizers\.sgd\.lr: nan is not a"),
        ("lm_demo.train.lr", float("inf"), r"lm_demo\.train\.lr: inf is not a finite number"),
        (
            "sft.base.model.n_head",
            5,
            r"sft\.base\.model\.n_head: 5 does not divide sft\.base\.model\.d_model 64",
        ),
        (
            "lm_demo.model.d_model",
            "64",
            r"'64' has the wrong type; expected integer \(a nested `--config` value",
        ),
    ],
)
def test_values_the_schema_alone_would_pass_are_refused(key, value, message):
    cfg = set_key(copy.deepcopy(default()), key, value)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_every_seed_key_is_capped_at_32_bits():
    def seed_keys(node, path=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from seed_keys(v, f"{path}.{k}" if path else k)
            if "seed" in path.rsplit(".", 1)[-1]:
                yield path, node

    seeds = [p for p, node in seed_keys(SCHEMA["properties"]) if node.get("$ref") != "#/$defs/seed"]
    items = [p for p, node in seed_keys(SCHEMA["properties"]) if "items" in node]
    assert not [p for p in seeds if p not in items], "a seed key without the 32-bit cap"
    for p in items:
        node = SCHEMA["properties"]
        for part in p.split("."):
            node = node[part]
        assert node["items"] == {"$ref": "#/$defs/seed"}, p
    assert SCHEMA["$defs"]["seed"]["maximum"] == 2**32 - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "device: cpu\nweights:\n  grid: {width: [8]}\ndevice: cuda\n",
            r"line 4: key 'device' is repeated \(first at line 1\)",
        ),
        (
            "lpo:\n  base:\n    seed: 1\n    seed: 2\n",
            r"line 4: key 'seed' is repeated \(first at line 3\)",
        ),
        ("device: cpu\nweights:\n  grid: [\n", r"line 4, column 1: not valid YAML"),
        ("", r"the file is empty"),
        ("# only a comment\n", r"the file is empty"),
        ("- 1\n- 2\n", r"holds a list, not a mapping"),
    ],
)
def test_config_files_are_read_strictly(tmp_path, text, message):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config_file(path)
    assert str(err.value).startswith(str(path))


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the config file"):
        load_config_file(tmp_path / "nope.yaml")


def test_shipped_config_files_load_strictly():
    for path in [
        ROOT / "config.yaml",
        ROOT / "config.paper.yaml",
        ROOT / "tests/config/smoke.yaml",
    ]:
        assert load_config_file(path) == yaml.safe_load(path.read_text())
