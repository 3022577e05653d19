"""Bad input through the real snakemake command: stopped before any job with a message
naming the key or file, or rebuilt where a user deleted an output."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from papergrid.weights.data import write_idx

from .conftest import copy_workflow
from .test_workflow import set_smoke

pytestmark = pytest.mark.workflow


def output(proc) -> str:
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        # torch keeps a seed's low 32 bits: 2**32 would train seed 0 again
        (
            lambda c: c["weights"]["grid"].update(seed=[0, 2**32]),
            "weights.grid.seed[1]: 4294967296 is out of range; must be <= 4294967295",
        ),
        (
            lambda c: c["lm_demo"]["train"].update(lr=float("nan")),
            "lm_demo.train.lr: nan is not a finite number",
        ),
        (
            lambda c: c["weights"]["grid"].update(width=[8, 16.0]),
            "weights.grid.width[1]: 16.0 has the wrong type; expected integer",
        ),
        (
            lambda c: c["lm_demo"].setdefault("model", {}).update(n_head=6),
            "lm_demo.model.n_head: 6 does not divide lm_demo.model.d_model 64",
        ),
        (
            lambda c: c["precision"]["sizes"].append(dict(c["precision"]["sizes"][0])),
            "precision.sizes: d_model [4] listed more than once",
        ),
    ],
)
def test_values_a_schema_would_pass_stop_the_dry_run(tmp_path, change, message):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, change)
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    assert message in output(proc)


def test_a_repeated_key_names_the_file_and_lines(tmp_path):
    wf = copy_workflow(tmp_path)
    smoke = wf.path / "smoke.yaml"
    smoke.write_text(smoke.read_text() + "device: cuda\n")
    line = len(smoke.read_text().splitlines())
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    first = next(
        i for i, text in enumerate(smoke.read_text().splitlines(), 1) if text.startswith("device:")
    )
    assert f"smoke.yaml, line {line}: key 'device' is repeated (first at line {first})" in output(
        proc
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("device: cpu\nweights:\n  grid: [8\n", "config.yaml, line 4, column 1: not valid YAML"),
        ("", "config.yaml: the file is empty"),
    ],
)
def test_a_broken_config_yaml_is_named(tmp_path, text, message):
    wf = copy_workflow(tmp_path)
    (wf.path / "config.yaml").write_text(text)
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    assert message in output(proc)


def test_a_nested_config_override_says_to_use_a_file(tmp_path):
    wf = copy_workflow(tmp_path)
    proc = wf.snakemake("-n", "--config", "weights={grid: {width: [8]}}", check=False)
    assert proc.returncode != 0
    assert "weights.grid.width[0]: '8' has the wrong type" in output(proc)
    assert "put nested overrides in a file passed with --configfile" in output(proc)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_stops_a_local_run_before_any_job(tmp_path):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: c.update(device="cuda"))
    assert wf.snakemake("-n", check=False).returncode == 0  # planning stays possible
    proc = wf.snakemake("--cores", "1", "weights_data", check=False)
    assert proc.returncode != 0
    assert "device: 'cuda' was requested but torch sees no CUDA device" in output(proc)
    assert not (tmp_path / "results/weights").exists()


def test_a_memory_request_no_machine_meets_stops_the_dry_run(tmp_path):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: c["weights"]["grid"].update(width=[8, 1_000_000]))
    proc = wf.snakemake("-n", "weights", check=False)
    assert proc.returncode != 0
    assert "weights.grid.width 1000000 asks for 61,036,656 MB of memory, more than" in output(proc)


def test_a_truncated_gzipped_idx_file_is_named(tmp_path):
    wf = copy_workflow(tmp_path)
    rng = np.random.default_rng(0)
    paths = {}
    for split, n in (("train", 40), ("test", 20)):
        for kind, array in (
            ("images", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
            ("labels", rng.integers(0, 10, n, dtype=np.uint8)),
        ):
            raw = tmp_path / f"{split}-{kind}"
            write_idx(array, raw)
            path = tmp_path / f"{split}-{kind}.gz"
            path.write_bytes(gzip.compress(raw.read_bytes()))
            paths[f"{split}_{kind}"] = str(path)
    whole = (tmp_path / "train-images.gz").read_bytes()
    (tmp_path / "train-images.gz").write_bytes(whole[: len(whole) // 2])
    set_smoke(
        wf,
        lambda c: c["weights"].update(
            data={"source": "idx", "test_fraction": 0.25, "split_seed": 0, "train_subset": None}
            | {"idx": paths}
        ),
    )
    proc = wf.snakemake("--cores", "1", "weights_data", check=False)
    assert proc.returncode != 0
    log = (wf.path / "results/logs/weights/data.log").read_text()
    assert "train-images.gz: damaged or truncated gzip file" in log


@pytest.mark.parametrize(
    "deleted, rebuilt",
    [
        ("weights/claims.md", "claims"),
        ("depth/calibration.md", "calibration"),
        ("lpo/figures/rewards.png", "lpo_figures"),
    ],
)
def test_a_deleted_output_is_rebuilt_by_the_default_target(fresh_copy, deleted, rebuilt):
    (fresh_copy.path / "results" / deleted).unlink()
    assert rebuilt in fresh_copy.planned()


def test_an_aggregate_table_without_a_column_names_file_and_column(fresh_copy):
    path = fresh_copy.path / "results/weights/runs.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["test_acc"]), path)
    proc = fresh_copy.snakemake("--cores", "1", "weights", check=False)
    assert proc.returncode != 0
    logs = "".join(
        (fresh_copy.path / f"results/logs/weights/{name}.log").read_text()
        for name in ("fit", "claims", "figures")
    )
    assert "results/weights/runs.parquet: missing column 'test_acc'" in logs
    assert "KeyError" not in logs


@pytest.fixture
def full_disk(tmp_path):
    """A 400 KB tmpfs (needs root and mount rights, as on CI; skipped without them)."""
    import shutil
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400K", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_named_on_the_console(tmp_path, full_disk):
    (tmp_path / "wf").mkdir()
    wf = copy_workflow(tmp_path / "wf")
    (wf.path / "results").symlink_to(full_disk)
    proc = wf.snakemake("--cores", "2", "lm_demo", check=False)
    text = output(proc)
    assert proc.returncode != 0
    assert "no space left on device writing results/lm_demo/" in text
    assert "lost sys.stderr" not in text
    # whatever was written is complete: no temporary file is left in results
    leftovers = [p.name for p in full_disk.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_a_grid_too_small_for_its_claims_is_told_at_plan_time(tmp_path):
    """One precision size with one seed: the dry run says which claims cannot be decided
    and still plans the claims, calibration and report (they complete: the calibration
    reports a claim it cannot simulate as not calibrated, tests/test_gates.py)."""
    wf = copy_workflow(tmp_path)

    def shrink(c):
        c["precision"]["sizes"] = c["precision"]["sizes"][:1]
        c["precision"]["grid"].update(d_model=[4], seeds=[0])

    set_smoke(wf, shrink)
    proc = wf.snakemake("-n", "precision", check=False)
    assert proc.returncode == 0, output(proc)
    assert "papergrid: precision: 1 seed(s) in precision.grid.seeds, precision.capacity.seeds" in (
        output(proc)
    )
    assert "calibration" in output(proc) and "verdicts" in output(proc)
