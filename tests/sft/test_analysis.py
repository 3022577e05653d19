import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.sft.analysis import SOUP_COLUMNS, decompose
from papergrid.sft.claims import claim_specs

from ..verdicts import assert_calibrated, verdicts

TEMPLATES = ["tulu", "tulu_eos", "zephyr", "chatml", "llama3", "alpaca"]
SKILLS = ["addition", "sort", "format"]
SETTINGS = dict(
    reference_template="tulu",
    sesoi_spread=0.0025,
    drop_threshold=0.05,
    others_margin=0.05,
    soup_margin=0.01,
    sesoi_reduction=0.01,
)


def test_decompose_separates_planted_effects():
    rng = np.random.default_rng(0)
    t_eff = rng.normal(0, 0.1, size=(6, 1))
    s_eff = rng.normal(0, 0.1, size=(1, 8))
    only_t = decompose(0.5 + t_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    only_s = decompose(0.5 + s_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    assert only_t["share_template"] > 0.99 and only_s["share_seed"] > 0.99
    shares = [only_t[f"share_{k}"] for k in ("template", "seed", "interaction")]
    assert sum(shares) == pytest.approx(1.0)


def planted(
    template_rms: float = 0.05,
    seed_sd: float = 0.02,
    drop: float = 0.3,
    others: float = 0.0,
    soup_gain: float = 0.0,
    reduction_gain: float = 0.0,
    pair_sd: float = 0.005,
    n_seeds: int = 6,
    rng_seed: int = 1,
):
    """Runs and soups with planted effects (accuracy units). Each seed has its own level,
    shared by every arm it trains (the pairing); the other arms add noise of SD ``pair_sd``
    mirrored across seeds, so every paired mean difference is exactly the planted one."""
    rng = np.random.default_rng(rng_seed)
    shape = np.linspace(-1, 1, len(TEMPLATES))
    t_eff = dict(zip(TEMPLATES, template_rms * shape / np.sqrt((shape**2).mean()), strict=True))
    seed_level = rng.normal(0, seed_sd, n_seeds)
    rows = []

    def mirrored(sd: float, n: int) -> np.ndarray:
        half = rng.normal(0, sd, n // 2)
        return np.concatenate([half, -half, np.zeros(n % 2)])

    def row(variant, template, held, seed, noise, reduction="sum", shift=0.0):
        acc = {}
        for s in SKILLS:
            base = 0.5 + t_eff[template] + seed_level[seed] + noise + shift
            if held == s:
                base -= drop
            elif held != "none":
                base += others
            acc[f"acc_{s}"] = base
            acc[f"val_acc_{s}"] = base + 0.001 * (seed % 3)
        acc["acc_mean"] = float(np.mean([acc[f"acc_{s}"] for s in SKILLS]))
        acc["val_acc_mean"] = float(np.mean([acc[f"val_acc_{s}"] for s in SKILLS]))
        return {
            "variant": variant,
            "template": template,
            "held_out": held,
            "seed": seed,
            "loss_reduction": reduction,
            "status": "ok",
            **acc,
        }

    for t in TEMPLATES:
        rows += [row("main", t, "none", s, 0.0) for s in range(n_seeds)]
    for held in SKILLS:
        noise = mirrored(pair_sd, n_seeds)
        rows += [row("ablate", "tulu", held, s, noise[s]) for s in range(n_seeds)]
    noise = mirrored(pair_sd, n_seeds)
    rows += [
        row("mean_loss", "tulu", "none", s, noise[s], "mean", -reduction_gain)
        for s in range(n_seeds)
    ]
    df = pd.DataFrame(rows)
    soups = []
    main = df[df["variant"] == "main"].set_index(["template", "seed"])
    gain_noise = iter(mirrored(pair_sd / 4, 3 * len(TEMPLATES)))
    for t in TEMPLATES:
        for a, b in ((0, 1), (2, 3), (4, 5)):
            pa_, pb = main.loc[(t, a)], main.loc[(t, b)]
            chosen = pa_ if pa_["val_acc_mean"] >= pb["val_acc_mean"] else pb
            noise = next(gain_noise)
            for s in [*SKILLS, "mean"]:
                soups.append(
                    {
                        "template": t,
                        "seed_a": a,
                        "seed_b": b,
                        "skill": s,
                        "soup": chosen[f"acc_{s}"] + soup_gain + noise,
                        "parent_a": pa_[f"acc_{s}"],
                        "parent_b": pb[f"acc_{s}"],
                        "chosen_seed": a if chosen is pa_ else b,
                        "chosen_parent": chosen[f"acc_{s}"],
                        "best_test": max(pa_[f"acc_{s}"], pb[f"acc_{s}"]),
                    }
                )
    return {"runs": df, "soups": pd.DataFrame(soups, columns=list(SOUP_COLUMNS))}


def found(data):
    return verdicts(claim_specs(data, **SETTINGS), data)


def test_planted_effects_are_supported():
    v = found(planted(drop=0.3, others=0.0, soup_gain=-0.02, reduction_gain=0.05))
    assert v["seed_moves_results"] == SUPPORTED
    assert v["template_moves_results"] == SUPPORTED
    for s in SKILLS:
        assert v[f"leaving_out_{s}_drops_it"] == SUPPORTED
        assert v[f"others_stay_without_{s}"] == SUPPORTED
    assert v["soup_not_better_than_parent"] == SUPPORTED
    assert v["sum_loss_beats_mean_loss"] == SUPPORTED


def test_reversed_effects_are_not_supported():
    v = found(
        planted(
            template_rms=0.0,
            seed_sd=0.0002,
            drop=0.0,
            others=0.2,
            soup_gain=0.1,
            reduction_gain=-0.05,
            pair_sd=0.0005,
        )
    )
    assert v["seed_moves_results"] == NOT_SUPPORTED
    assert v["template_moves_results"] == NOT_SUPPORTED
    for s in SKILLS:
        assert v[f"leaving_out_{s}_drops_it"] == NOT_SUPPORTED
        assert v[f"others_stay_without_{s}"] == NOT_SUPPORTED
    assert v["soup_not_better_than_parent"] == NOT_SUPPORTED
    assert v["sum_loss_beats_mean_loss"] == NOT_SUPPORTED


def test_effects_on_the_margin_are_inconclusive():
    v = found(planted(drop=0.05, others=0.05, soup_gain=0.01, reduction_gain=0.01, pair_sd=0.02))
    for s in SKILLS:
        assert v[f"leaving_out_{s}_drops_it"] == INCONCLUSIVE
        assert v[f"others_stay_without_{s}"] == INCONCLUSIVE
    assert v["soup_not_better_than_parent"] == INCONCLUSIVE
    assert v["sum_loss_beats_mean_loss"] == INCONCLUSIVE


def test_the_soup_parent_is_chosen_on_validation_not_test(tmp_path):
    import pyarrow as pa

    from papergrid.io import write_parquet
    from papergrid.sft.analysis import soup_table
    from papergrid.sft.grid import SOUP_SCHEMA

    runs = planted()["runs"]
    main = (runs["variant"] == "main") & (runs["template"] == "tulu")
    # seed 0 is better on validation, seed 1 on test
    runs.loc[main & (runs["seed"] == 0), ["val_acc_mean", "acc_mean"]] = [0.9, 0.5]
    runs.loc[main & (runs["seed"] == 1), ["val_acc_mean", "acc_mean"]] = [0.4, 0.8]
    row = {name: 0.6 for name in SOUP_SCHEMA.names}
    row.update(template="tulu", seed_a=0, seed_b=1)
    path = tmp_path / "soups.parquet"
    write_parquet(pa.Table.from_pylist([row], schema=SOUP_SCHEMA), path)
    table = soup_table(runs, [str(path)]).set_index("skill").loc["mean"]
    assert table["chosen_seed"] == 0 and table["chosen_parent"] == 0.5
    assert table["best_test"] == 0.8


def test_rules_are_calibrated_on_a_grid_that_can_decide():
    data = planted(drop=0.12, others=0.0, soup_gain=0.0, reduction_gain=0.02, n_seeds=6)
    specs = claim_specs(data, **SETTINGS)
    keep = {
        "seed_moves_results",
        "leaving_out_sort_drops_it",
        "others_stay_without_sort",
        "soup_not_better_than_parent",
        "sum_loss_beats_mean_loss",
    }
    assert_calibrated([s for s in specs if s.claim_id in keep], data)
