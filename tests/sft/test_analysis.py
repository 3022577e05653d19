import numpy as np
import pyarrow as pa
import pytest

from papergrid.io import write_parquet
from papergrid.sft.analysis import decompose, skills_of, soup_table
from papergrid.sft.grid import SOUP_SCHEMA

from .test_claims import SKILLS, planted


def test_decompose_separates_planted_effects():
    rng = np.random.default_rng(0)
    t_eff = rng.normal(0, 0.1, size=(6, 1))
    s_eff = rng.normal(0, 0.1, size=(1, 8))
    only_t = decompose(0.5 + t_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    only_s = decompose(0.5 + s_eff + np.zeros((6, 8)) + rng.normal(0, 1e-4, (6, 8)))
    assert only_t["share_template"] > 0.99 and only_s["share_seed"] > 0.99
    shares = [only_t[f"share_{k}"] for k in ("template", "seed", "interaction")]
    assert sum(shares) == pytest.approx(1.0)


def test_the_test_halves_are_not_skills():
    assert skills_of(planted()["runs"]) == [*SKILLS, "mean"]


def test_the_soup_parent_is_chosen_on_validation_not_test(tmp_path):
    runs = planted()["runs"]
    main = (runs["variant"] == "main") & (runs["template"] == "tulu")
    # seed 0 is better on validation, seed 1 on test
    runs.loc[main & (runs["seed"] == 0), ["val_acc_mean", "acc_mean"]] = [0.9, 0.5]
    runs.loc[main & (runs["seed"] == 1), ["val_acc_mean", "acc_mean"]] = [0.4, 0.8]
    row = {name: 0.6 for name in SOUP_SCHEMA.names}
    row.update(template="tulu", seed_a=0, seed_b=1)
    path = tmp_path / "soups.parquet"
    write_parquet(pa.Table.from_pylist([row], schema=SOUP_SCHEMA), path)
    table = soup_table(runs, [str(path)]).set_index("skill")
    mean = table.loc["mean"]
    assert mean["chosen_seed"] == 0 and mean["chosen_parent"] == 0.5
    assert mean["unchosen_parent"] == 0.8 and mean["parent_mean"] == pytest.approx(0.65)
    assert mean["best_test"] == 0.8
    assert set(table.index) == {*SKILLS, "mean"}
