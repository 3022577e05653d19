import numpy as np
import pandas as pd

from papergrid.lpo.learned import mark


def runs(exact_greedy=(0.98, 0.98), pair_acc=(0.7, 0.7)):
    rows = []
    for seed, (greedy, acc) in enumerate(zip(exact_greedy, pair_acc, strict=True)):
        base = {"seed": seed, "status": "ok", "decode": "none", "variant": "none"}
        rows.append(
            {**base, "method": "fixed", "tau": 0.0, "reward_exact": greedy, "pair_acc": np.nan}
        )
        rows.append(
            {
                **base,
                "method": "selector",
                "tau": np.nan,
                "reward_exact": greedy,
                "pair_acc": np.nan,
            }
        )
        rows.append(
            {
                **base,
                "method": "lpo",
                "variant": "seq",
                "decode": "argmax",
                "tau": np.nan,
                "reward_exact": greedy,
                "pair_acc": acc,
            }
        )
    return pd.DataFrame(rows)


def test_baselines_need_no_pair_accuracy_and_learned_heads_stay_ok():
    assert (mark(runs())["status"] == "ok").all()


def test_a_head_at_a_coin_flip_did_not_learn():
    out = mark(runs(pair_acc=(0.7, 0.52)))
    head = out[out["method"] == "lpo"].set_index("seed")["status"]
    assert head.to_dict() == {0: "ok", 1: "not_learned"}
    assert (out[out["method"] != "lpo"]["status"] == "ok").all()


def test_a_frozen_model_that_cannot_do_the_verifiable_task_fails_its_whole_seed():
    out = mark(runs(exact_greedy=(0.98, 0.3)))
    assert set(out[out["seed"] == 1]["status"]) == {"not_learned"}
    assert set(out[out["seed"] == 0]["status"]) == {"ok"}


def test_the_likelihood_head_has_no_pair_rule():
    r = runs(pair_acc=(0.7, 0.52))
    r["method"] = r["method"].replace("lpo", "nll")
    assert (mark(r)["status"] == "ok").all()


def test_failed_runs_keep_their_status():
    r = runs(pair_acc=(0.7, 0.2))
    r.loc[(r["method"] == "lpo") & (r["seed"] == 1), "status"] = "failed"
    out = mark(r)
    assert out.loc[(out["method"] == "lpo") & (out["seed"] == 1), "status"].item() == "failed"
