"""Bad input through the real snakemake command: stopped before any job with a message
naming the key or file, or rebuilt where a user deleted an output."""

from __future__ import annotations

import gzip
import subprocess

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
        ("weights/claims.md", "verdicts"),
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
    # the readings are the one rule that reads the runs table (fit, claims and figures
    # read the readings)
    logs = (fresh_copy.path / "results/logs/weights/readings.log").read_text()
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


@pytest.mark.parametrize(
    "lr, message",
    [
        (1.0e300, "weights.optimizers.sgd.lr: 1e+300 is larger than float32 can hold"),
        (1.0e-300, "weights.optimizers.sgd.lr: 1e-300 rounds to 0 in float32"),
    ],
)
def test_a_learning_rate_float32_cannot_hold_stops_the_dry_run(tmp_path, lr, message):
    wf = copy_workflow(tmp_path)
    set_smoke(
        wf, lambda c: c["weights"].setdefault("optimizers", {}).setdefault("sgd", {}).update(lr=lr)
    )
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0 and message in output(proc)


def test_an_exponent_without_a_dot_says_how_to_write_the_number(tmp_path):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: c["tokenformer"]["analysis"].update(reach_margin="LR"))
    smoke = wf.path / "smoke.yaml"
    # as a user writes it
    smoke.write_text(smoke.read_text().replace("reach_margin: LR", "reach_margin: 3e-3"))
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    assert "tokenformer.analysis.reach_margin: '3e-3' is read by YAML as a string" in output(proc)
    assert "write 3.0e-3 or 0.003" in output(proc)


def test_configfile_given_twice_is_named_not_dropped(tmp_path):
    wf = copy_workflow(tmp_path)
    (wf.path / "mine.yaml").write_text("device: cpu\n")
    proc = wf.snakemake("-n", "--configfile", "mine.yaml", check=False)
    assert proc.returncode != 0
    assert "--configfile is given 2 times and Snakemake would use only the last" in output(proc)


@pytest.mark.parametrize("kind", ["directory", "not idx", "missing"])
def test_idx_paths_are_checked_at_plan_time(tmp_path, kind):
    wf = copy_workflow(tmp_path)
    images = np.zeros((4, 2, 2), dtype=np.uint8)
    paths = {}
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        paths[key] = tmp_path / f"{key}.idx"
        write_idx(images if "images" in key else np.zeros(4, dtype=np.uint8), paths[key])
    bad = paths["train_images"]
    if kind == "directory":
        bad.unlink()
        bad.mkdir()
    elif kind == "not idx":
        bad.write_bytes(b"P5 not an idx file")
    else:
        bad.unlink()
    set_smoke(
        wf,
        lambda c: (
            c["weights"]
            .setdefault("data", {})
            .update(source="idx", idx={k: str(v) for k, v in paths.items()})
        ),
    )
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    why = {
        "directory": "is a directory",
        "not idx": "is not an IDX file",
        "missing": "does not exist",
    }
    assert f"weights.data.idx.train_images: {bad} {why[kind]}" in output(proc)


def test_a_read_only_results_folder_is_one_line_before_any_job(tmp_path):
    wf = copy_workflow(tmp_path)
    results = wf.path / "results"
    results.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=100K", "tmpfs", str(results)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.strip()}")
    try:
        run = wf.snakemake("-n", check=False)
    finally:
        subprocess.run(["umount", str(results)], check=False)
    assert run.returncode != 0
    assert "results: cannot write here (Read-only file system)" in output(run)


def test_the_power_target_answers_before_any_training(tmp_path):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: c["weights"]["grid"].update(seed=list(range(20))))
    proc = wf.snakemake("--cores", "1", "power")
    report = (wf.path / "results" / "power.md").read_text()
    assert "## weights" in report and "## tokenformer" in report
    # the shipped pilot answers for the default grid; the smoke grid differs from it
    assert "Source: pilot (shipped)" in report
    assert "this config: 20 seeds" in report and "differs from the source run" in report
    assert not (wf.path / "results" / "weights" / "runs").exists()  # nothing trained
    assert "power planner" in output(proc)


def test_a_grid_that_did_not_learn_completes_with_every_claim_inconclusive(tmp_path):
    """A learning rate too small to move the weights (it passes the float32 check): every
    run is marked not_learned in the runs table and the log, every claim reads
    inconclusive with that reason, and the figures, claims and report still come."""
    wf = copy_workflow(tmp_path)

    def frozen(c):
        c["learned_gate"] = True
        for opt in ("sgd", "adam"):
            c["weights"].setdefault("optimizers", {}).setdefault(opt, {}).update(lr=1.0e-30)

    set_smoke(wf, frozen)
    wf.snakemake("--cores", "2", "weights")
    runs = pq.read_table(wf.path / "results/weights/runs.parquet").to_pandas()
    assert set(runs["status"]) == {"not_learned"}
    log = (wf.path / "results/logs/weights/aggregate.log").read_text()
    assert f"{len(runs)} of {len(runs)} runs did not learn" in log
    claims = pq.read_table(wf.path / "results/weights/claims.parquet").to_pandas()
    assert set(claims["verdict"]) == {"inconclusive"} and set(claims["gate"]) == {"not_learned"}
    assert claims["gate_reason"].str.startswith("most runs did not learn").all()
    assert (wf.path / "results/weights/figures/scaling.png").exists()


def test_weights_arms_and_the_decay_reference_are_checked():
    from papergrid.checks import weights_arm_problems

    arms = {
        "sgd": {"decay_dose": 0.0},
        "adam": {"decay_dose": 0.0},
        "adamw": {"decay_dose": 1.2},
    }

    def problems(grid, ref="adam"):
        block = {"grid": {"optimizer": grid}, "optimizers": arms, "analysis": {}}
        block["analysis"]["decay_reference"] = ref
        return weights_arm_problems({"weights": block})

    assert problems(["sgd", "adam", "adamw"]) == []
    assert problems(["sgd", "adam"], ref="nothing") == []  # no decay arm: nothing to compare
    (bad,) = problems(["sgd", "rmsprop"])
    assert bad.startswith("weights.grid.optimizer[1]: 'rmsprop' is not an arm")
    (bad,) = problems(["sgd", "adamw"])
    assert "weights.analysis.decay_reference: 'adam' is not in weights.grid.optimizer" in bad
    (bad,) = problems(["adamw", "adam"], ref="adamw")
    assert "'adamw' has weight decay itself" in bad
