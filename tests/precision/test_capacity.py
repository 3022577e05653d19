import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.config import ConfigError
from papergrid.contract import read_frame
from papergrid.lm.data.facts import FactSet
from papergrid.lm.model import GPT, GPTConfig
from papergrid.precision.capacity import (
    CONTRACT,
    MAX_FILL,
    capacity_runs,
    check_block,
    fact_set,
    params_total,
    run_id,
)
from papergrid.precision.capacity_claims import (
    CapacitySimulator,
    bits_per_param_evidence,
    capacity_claim_specs,
)
from papergrid.precision.capacity_jobs import (
    FactBatches,
    facts_source,
    quantize_all_rtn,
    train_capacity,
)

from ..verdicts import assert_calibrated, verdicts

BLOCK = {
    "facts": {"n_people": 1000, "n_values": [32, 32], "name_tokens": 2, "syllables": 32, "seed": 0},
    "sizes": [
        {"d_model": 4, "n_layer": 1, "n_head": 1},
        {"d_model": 8, "n_layer": 1, "n_head": 2},
        {"d_model": 10, "n_layer": 1, "n_head": 2},
    ],
    "seeds": [0, 1, 2],
    "exposures": 1000,
    "batch_size": 1024,
    "lr": 0.1,
    "warmup_fraction": 0.05,
    "evals": 10,
    "analysis": {"bits_band": [1.5, 2.5], "int8_kept": 0.9, "int4_lower": 0.9},
}
SETTINGS = BLOCK["analysis"]


# --- planning -------------------------------------------------------------------------


def test_runs_cover_every_size_and_seed_with_the_exposures_asked_for():
    runs = capacity_runs(BLOCK)
    assert len(runs) == 9
    assert len({run_id(r) for r in runs}) == 9
    assert run_id(runs[4]) == "precision_capacity/d8-l1-s1"
    steps = math.ceil(1000 * 2000 / 1024)
    for r in runs:
        assert r["train"]["steps"] == steps
        assert r["train"]["seed"] == r["seed"]
        assert r["train"]["warmup_steps"] == round(0.05 * steps)
        assert r["train"]["eval_every"] == steps // 10
        assert r["model"]["d_ff"] == 4 * r["d_model"]
        assert r["facts"] == runs[0]["facts"]  # every model learns the same facts


@pytest.mark.parametrize("size", BLOCK["sizes"])
def test_planned_parameters_are_the_models_every_parameter(size):
    run = next(r for r in capacity_runs(BLOCK) if r["d_model"] == size["d_model"])
    facts = fact_set(run["facts"])
    model = GPT(GPTConfig(len(facts.tokenizer), facts.seq_len - 1, **run["model"]))
    assert params_total(run["model"], run["facts"]) == model.num_params(non_embedding=False)


def test_the_shipped_block_passes_its_checks():
    check_block(BLOCK)
    check_block({k: v for k, v in BLOCK.items() if k != "analysis"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"facts": {**BLOCK["facts"], "syllables": 20}}, r"facts.syllables: 20\^2 = 400"),
        ({"sizes": BLOCK["sizes"] + BLOCK["sizes"][:1]}, r"\(4, 1\)\] listed more than once"),
        ({"seeds": [0, 0, 1]}, r"seeds: \[0, 0, 1\] repeats a seed"),
        ({"sizes": BLOCK["sizes"][:1], "seeds": [0, 1]}, "fewer than the 3 runs"),
        (
            {"sizes": [*BLOCK["sizes"], {"d_model": 16, "n_layer": 1, "n_head": 2}]},
            r"sizes\[3\]: d_model 16, n_layer 1 has .* bounded by the data, not the model",
        ),
        ({"analysis": {**SETTINGS, "bits_band": [2.5, 1.5]}}, r"bits_band: \[2.5, 1.5\]"),
        ({"analysis": {**SETTINGS, "int4_lower": 1.5}}, r"int4_lower: 1.5 must be a ratio"),
    ],
)
def test_check_block_names_the_key_and_what_is_allowed(change, message):
    with pytest.raises(ConfigError, match=message):
        check_block({**BLOCK, **change})


def test_planning_imports_neither_torch_nor_scipy():
    # the Snakefile imports this module at start-up, before any job
    probe = (
        "import sys, papergrid.precision.capacity; "
        "print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_contract_declares_each_column_once():
    for schema in (CONTRACT.curve_schema(), CONTRACT.summary_schema()):
        assert len(set(schema.names)) == len(schema.names)
    assert CONTRACT.grid_names == ("d_model", "n_layer", "exposures")


# --- data and evaluation --------------------------------------------------------------

SMALL = FactSet(n_people=40, n_values=(4, 8), name_tokens=2, syllables=8, seed=0)


@pytest.mark.parametrize("batch", [16, 100])  # a batch inside one epoch, and one across two
def test_batches_are_a_function_of_the_step_and_show_every_fact_equally(batch):
    batches = FactBatches(SMALL.ids, batch, seed=5)
    epochs = 5
    steps = epochs * SMALL.n_facts // batch
    seen = np.concatenate([_rows(batches, s) for s in range(steps)])
    assert np.array_equal(
        np.bincount(seen, minlength=SMALL.n_facts), np.full(SMALL.n_facts, epochs)
    )
    first = batches.get(3)
    assert torch.equal(first.x, batches.get(3).x)
    assert not torch.equal(first.x, batches.get(4).x)
    assert torch.equal(first.mask.sum(0), torch.tensor([0.0, 0.0, batch]))  # the value only


def _rows(batches: FactBatches, step: int) -> np.ndarray:
    """Which fact each row of a batch is (every fact's sequence is distinct)."""
    b = batches.get(step)
    seq = torch.cat([b.x, b.y[:, -1:]], dim=1).numpy()
    index = {tuple(row): i for i, row in enumerate(SMALL.ids)}
    return np.array([index[tuple(row)] for row in seq])


class Planted(nn.Module):
    """Predicts each fact's value with a planted probability, the rest spread evenly."""

    def __init__(self, facts: FactSet, p_correct: np.ndarray):
        super().__init__()
        vocab = len(facts.tokenizer)
        probs = np.tile((1 - p_correct)[:, None] / (vocab - 1), (1, vocab))
        probs[np.arange(len(p_correct)), facts.ids[:, -1]] = p_correct
        self.logits = nn.Parameter(torch.log(torch.tensor(probs)))
        self.row = {tuple(r): i for i, r in enumerate(facts.ids[:, :-1].tolist())}

    def forward(self, idx: torch.Tensor):
        rows = [self.row[tuple(r)] for r in idx.tolist()]
        out = torch.zeros(idx.size(0), idx.size(1), self.logits.size(1), dtype=torch.float64)
        out[:, -1] = self.logits[rows]
        return out, None


def test_evaluate_reads_bits_stored_from_planted_probabilities():
    # odd facts known at p = 1/2 (1 bit of cross-entropy), even ones at 1/64 (worse than
    # the prior: nothing stored)
    p = np.where(np.arange(SMALL.n_facts) % 2, 0.5, 1 / 64)
    data = facts_source(SMALL, batch_size=8, seed=0)
    got = data.evaluate(Planted(SMALL, p))
    # attribute 0 has 4 values (2 bits), attribute 1 has 8 (3 bits): odd facts are attribute 1
    assert got["bits_stored"] == pytest.approx(40 * (3 - 1))
    assert got["value_loss"] == pytest.approx(-np.log(p).mean())
    assert data.meta["info_bits"] == pytest.approx(40 * 5)


def test_ptq_rounds_every_matrix_and_embedding_row_and_keeps_the_norms():
    torch.manual_seed(0)
    model = GPT(GPTConfig(30, 3, 1, 8, 2, 32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantize_all_rtn(model, 4)
    for name, w in model.state_dict().items():
        if name.endswith(("wte.weight", "wpe.weight", "qkv.weight", "fc.weight")):
            # symmetric int4 per row: at most 15 levels, and max |w| kept exactly
            assert max(len(set(row.tolist())) for row in w) <= 15
            assert torch.allclose(w.abs().amax(1), before[name].abs().amax(1))
        if "ln" in name:
            assert torch.equal(w, before[name])


def test_a_tiny_job_writes_every_run(tmp_path: Path):
    block = {
        **BLOCK,
        "facts": {"n_people": 40, "n_values": [4, 8], "name_tokens": 2, "syllables": 8, "seed": 0},
        "sizes": [{"d_model": 8, "n_layer": 1, "n_head": 2}],
        "seeds": [0, 1],
        "exposures": 40,
        "batch_size": 16,
        "lr": 0.03,
        "evals": 4,
    }
    runs = capacity_runs(block)
    kinds = {"curve": "parquet", "summary": "parquet", "model": "pt", "vocab": "json"}
    outputs = {
        k: [str(tmp_path / f"s{r['seed']}.{k}.{ext}") for r in runs] for k, ext in kinds.items()
    }
    assert train_capacity(runs, "cpu", 1, "test", outputs) == ["ok", "ok"]
    for i, run in enumerate(runs):
        summary = read_frame(outputs["summary"][i], CONTRACT.summary_schema()).iloc[0]
        curve = read_frame(outputs["curve"][i], CONTRACT.curve_schema())
        assert Path(outputs["model"][i]).exists() and Path(outputs["vocab"][i]).exists()
        assert summary["run_id"] == run_id(run) and summary["seed"] == run["seed"]
        assert summary["steps_run"] == run["train"]["steps"] == 40 * 80 // 16
        assert summary["tokens"] == 200 * 16 * 3
        assert summary["n_params_total"] == params_total(run["model"], run["facts"])
        assert summary["info_bits"] == pytest.approx(40 * 5)
        assert 0 < summary["bits_stored_fp"] <= summary["info_bits"]
        assert summary["bits_stored_fp"] == pytest.approx(curve["bits_stored"].iloc[-1])
        assert summary["bits_stored_int8"] == pytest.approx(summary["bits_stored_fp"], rel=0.05)
        assert math.isfinite(summary["value_loss_int4"])
        assert list(curve["step"]) == [0, 50, 100, 150, 200]
        assert curve["value_loss"].iloc[-1] < curve["value_loss"].iloc[0]


# --- claims ---------------------------------------------------------------------------

SIZES = (600, 1600, 2300)  # N_total of three capacity-limited models on 10,000 bits


def synthetic(
    rate: float = 2.0,
    int8: float = 1.0,
    int4: float = 0.35,
    sd: float = 0.05,
    seeds: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """A capacity runs table: each model stores N_total (rate + noise) bits, keeping
    int8 + noise and int4 + noise of them after PTQ."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in SIZES:
        for s in range(seeds):
            fp = n * (rate + sd * rng.standard_normal())
            rows.append(
                {
                    "run_id": f"n{n}-s{s}",
                    "seed": s,
                    "status": "ok",
                    "exposures": 1000,
                    "n_params_total": n,
                    "info_bits": 10_000.0,
                    "bits_stored_fp": fp,
                    "bits_stored_int8": fp * (int8 + sd * rng.standard_normal()),
                    "bits_stored_int4": fp * (int4 + sd * rng.standard_normal()),
                }
            )
    return pd.DataFrame(rows)


def found(runs: pd.DataFrame) -> dict:
    return verdicts(capacity_claim_specs(runs, **SETTINGS), runs)


def test_the_claims_join_the_precision_family():
    specs = capacity_claim_specs(synthetic(), **SETTINGS)
    assert {s.family_name for s in specs} == {"precision"}


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (synthetic(rate=2.0), SUPPORTED),
        (synthetic(rate=1.0), NOT_SUPPORTED),
        (synthetic(rate=2.8), NOT_SUPPORTED),
        (synthetic(rate=1.5, sd=0.3), INCONCLUSIVE),
    ],
)
def test_bits_per_parameter_reaches_each_verdict(runs, expected):
    assert found(runs)["capacity_two_bits_per_param"] == expected


@pytest.mark.parametrize(
    ("int8", "sd", "expected"),
    [(1.0, 0.05, SUPPORTED), (0.6, 0.05, NOT_SUPPORTED), (0.9, 0.2, INCONCLUSIVE)],
)
def test_int8_kept_reaches_each_verdict(int8, sd, expected):
    runs = synthetic(int8=int8)
    rng = np.random.default_rng(1)
    runs["bits_stored_int8"] = runs["bits_stored_fp"] * (int8 + sd * rng.standard_normal(9))
    assert found(runs)["capacity_kept_at_int8"] == expected


@pytest.mark.parametrize(
    ("int4", "sd", "expected"),
    [(0.35, 0.05, SUPPORTED), (1.0, 0.05, NOT_SUPPORTED), (0.9, 0.2, INCONCLUSIVE)],
)
def test_int4_lower_reaches_each_verdict(int4, sd, expected):
    runs = synthetic(int4=int4)
    rng = np.random.default_rng(2)
    runs["bits_stored_int4"] = runs["bits_stored_fp"] * (int4 + sd * rng.standard_normal(9))
    assert found(runs)["capacity_lower_at_int4"] == expected


def test_models_that_could_hold_the_data_and_failed_runs_are_left_out():
    runs = synthetic(rate=2.0)
    big = 10_000 * MAX_FILL / 2 + 1  # just past the fill limit
    extra = [
        {**runs.iloc[0], "run_id": "big", "n_params_total": int(big), "bits_stored_fp": 1.0},
        {**runs.iloc[1], "run_id": "bad", "status": "diverged", "bits_stored_fp": 0.0},
    ]
    mixed = pd.concat([runs, pd.DataFrame(extra)], ignore_index=True)
    assert found(mixed) == found(runs)
    ev = bits_per_param_evidence(mixed)
    assert ev.n_units == 9
    assert "1 run(s) left out: not capacity-limited" in ev.detail
    assert ev.estimate == pytest.approx(bits_per_param_evidence(runs).estimate)


def test_the_simulator_plants_each_statistic():
    runs = synthetic(rate=1.8, int8=0.97, int4=0.5, sd=0.1)
    sim = CapacitySimulator(runs)
    specs = {s.claim_id: s for s in capacity_claim_specs(runs, **SETTINGS)}
    rng = np.random.default_rng(0)
    for claim, e in (
        ("capacity_two_bits_per_param", 2.2),
        ("capacity_kept_at_int8", 0.93),
        ("capacity_lower_at_int4", 0.3),
    ):
        spec = specs[claim]
        draws = [spec.compute(spec.simulate(e, rng)).estimate for _ in range(200)]
        assert np.mean(draws) == pytest.approx(e, abs=0.02), claim
    drawn = sim.bits_per_param(2.0, rng)
    assert list(drawn.columns) == list(runs.columns) and len(drawn) == len(runs)


def test_rules_are_calibrated_on_a_grid_that_can_decide():
    runs = synthetic(rate=2.0, int8=1.0, int4=0.35, sd=0.05)
    assert_calibrated(capacity_claim_specs(runs, **SETTINGS), runs)
