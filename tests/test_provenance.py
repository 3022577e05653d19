import math
import os
import sys

import pytest

from papergrid.provenance import canonical, config_hash, module_closure, source_hash


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "b.py").write_text("Y = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in [m for m in sys.modules if m.startswith("fakepkg")]:
        del sys.modules[name]


def test_hash_changes_with_content_not_with_touch(fake_package):
    before = source_hash("fakepkg.a")
    os.utime(fake_package / "a.py", (1, 1))
    assert source_hash("fakepkg.a") == before
    (fake_package / "a.py").write_text("X = 2\n")
    assert source_hash("fakepkg.a") != before


def test_hash_of_one_module_ignores_its_siblings(fake_package):
    before = source_hash("fakepkg.a")
    (fake_package / "b.py").write_text("Y = 3\n")
    assert source_hash("fakepkg.a") == before


def test_hash_follows_imports_inside_the_package(fake_package):
    (fake_package / "c.py").write_text("def f():\n    from fakepkg import b\n    return b.Y\n")
    (fake_package / "d.py").write_text("from .a import X\nimport os\n")
    assert set(module_closure("fakepkg.c")) == {"fakepkg.c", "fakepkg", "fakepkg.b"}
    # the package's __init__ runs on any import of its modules, so it counts
    assert set(module_closure("fakepkg.d")) == {"fakepkg.d", "fakepkg", "fakepkg.a"}
    before = source_hash("fakepkg.c")
    (fake_package / "b.py").write_text("Y = 4\n")  # reached only through a lazy import
    assert source_hash("fakepkg.c") != before
    before_d = source_hash("fakepkg.d")
    (fake_package / "b.py").write_text("Y = 5\n")
    assert source_hash("fakepkg.d") == before_d


def test_hash_reads_modules_without_importing_them(fake_package):
    # a dry run hashes code for every rule; importing would load torch each time
    sub = fake_package / "sub"
    sub.mkdir()
    (sub / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (sub / "heavy.py").write_text("raise RuntimeError('imported')\nZ = 1\n")
    (fake_package / "e.py").write_text("from fakepkg.sub.heavy import Z\n")
    assert set(module_closure("fakepkg.e")) == {
        "fakepkg.e",
        "fakepkg",
        "fakepkg.sub",
        "fakepkg.sub.heavy",
    }
    before = source_hash("fakepkg.e")
    assert not [m for m in sys.modules if m.startswith("fakepkg.sub")]
    (sub / "heavy.py").write_text("Z = 2\n")
    assert source_hash("fakepkg.e") != before


def test_unknown_module_is_an_error():
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        source_hash("no_such_module_xyz")


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_canonical_sorts_keys_recursively():
    a = canonical({"b": 1, "a": {"y": [{"q": 1, "p": 2}], "x": 0}})
    assert list(a) == ["a", "b"] and list(a["a"]) == ["x", "y"]
    assert list(a["a"]["y"][0]) == ["p", "q"]
    assert repr(canonical({"b": 1, "a": 2})) == repr(canonical({"a": 2, "b": 1}))


def test_train_requests_grow_with_size_schedule_and_attempt():
    from papergrid.resources import train_request

    small = {"n_layer": 2, "d_model": 32, "n_head": 4, "d_ff": 128}
    big = {"n_layer": 12, "d_model": 768, "n_head": 12, "d_ff": 3072}
    a = train_request(small, 1000, 64, 64, 3, 1, "cpu", 1)
    b = train_request(big, 1000, 64, 64, 3, 1, "cpu", 1)
    assert a["mem_mb"] < b["mem_mb"] and a["runtime"] < b["runtime"]
    assert train_request(small, 10**6, 64, 64, 3, 1, "cpu", 1)["runtime"] > a["runtime"]
    on_gpu = train_request(big, 1000, 64, 64, 3, 1, "cuda", 1)
    assert on_gpu["runtime"] < b["runtime"]
    assert on_gpu["mem_mb"] < b["mem_mb"]  # host memory: activations stay on the GPU
    twice = train_request(small, 1000, 64, 64, 3, 1, "cpu", 2)
    assert twice == {k: 2 * v for k, v in a.items()}


def default_runs() -> dict[str, list[dict]]:
    """Every run the default config trains, per experiment, as the grid functions build them
    (what each training job hashes, with its initial weights)."""
    import yaml

    import papergrid.depth.grid as dg
    import papergrid.precision.grid as pg
    import papergrid.sft.grid as sg
    import papergrid.weights.grid as wg

    from .conftest import ROOT

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    w, p, d, s = cfg["weights"], cfg["precision"], cfg["depth"], cfg["sft"]
    demo = cfg["lm_demo"]
    return {
        "weights": [
            r
            for wd in w["grid"]["width"]
            for o in w["grid"]["optimizer"]
            for r in wg.cell_runs(w, wd, o)
        ],
        "precision": [
            r
            for dm in p["grid"]["d_model"]
            for t in p["grid"]["tokens_per_param"]
            for r in pg.cell_runs(p, dm, t)
        ],
        "depth": [
            r
            for b in d["grid"]["budget"]
            for sd in d["grid"]["seed"]
            for r in dg.seed_runs(d, b, sd)
        ],
        "sft": [
            r
            for job in [f"main-{t}" for t in s["grid"]["template"]] + sg.variant_jobs(s)
            for r in sg.job_runs(s, job)
        ],
        "lm_demo": [{"source": src, **demo} for src in demo["sources"]],
    }


def test_no_two_runs_of_the_default_config_share_a_config_hash():
    from papergrid.provenance import run_hash

    runs = [(exp, r) for exp, rs in default_runs().items() for r in rs]
    hashes = {}
    for exp, r in runs:
        h = run_hash(r)
        assert h not in hashes or hashes[h] == r, f"{exp}: two different runs share {h}"
        hashes[h] = r
    assert len(hashes) == len(runs) > 150


def test_initial_weights_enter_the_hash():
    import torch

    from papergrid.provenance import run_hash
    from papergrid.runtime import state_hash

    torch.manual_seed(0)
    a = torch.nn.Linear(4, 4)
    torch.manual_seed(1)
    b = torch.nn.Linear(4, 4)
    assert state_hash(a) != state_hash(b)
    b.load_state_dict(a.state_dict())
    assert state_hash(a) == state_hash(b)
    assert run_hash({"x": 1}, state_hash(a)) != run_hash({"x": 1}, "other weights")


def test_a_negative_zero_is_the_same_value_and_the_same_hash():
    from papergrid.provenance import canonical, config_hash

    assert math.copysign(1.0, canonical(-0.0)) == 1.0
    assert canonical({"b": [-0.0, 1], "a": -0.0}) == {"a": 0.0, "b": [0.0, 1]}
    assert config_hash({"wd": -0.0}) == config_hash({"wd": 0.0})
    assert config_hash({"wd": 0}) != config_hash({"wd": 0.0})  # an int stays an int
