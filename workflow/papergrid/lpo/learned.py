"""What an adaptive-decoding run that learned looks like (papergrid.gates): the runs table
marks the others ``not_learned`` and the claims count them.

Two things must have learned. A head trained by either LPO form must order its held-out
preference pairs better than a coin flip (a head that learned nothing gives both sides
the same probability and orders none). The likelihood head has no rule: ordering pairs is
not its objective (in the default run of 2026-12-07 one AD_tok NLL head ordered 54% of
its held-out pairs with a training loss and a reward like the other seeds'), and the
uniform value of its loss, summed over a response's tokens, depends on response lengths
the runs table does not carry. And the seed's frozen model must have learned the
verifiable task: its greedy decoding (the fixed temperature 0 run) must solve at least half
of the ``exact`` test prompts, or every run of that seed, baselines included, compares
decoders of a model that cannot do the task.
"""

from __future__ import annotations

import pandas as pd

from papergrid.gates import LearnedRule, mark_not_learned

HEAD = LearnedRule(
    "pair_acc",
    "higher",
    0.5,
    0.05,
    "held-out pairs the head orders right: five points above a coin flip",
)
FROZEN_MIN_EXACT = 0.5  # greedy reward on the verifiable test prompts
PREFERENCE_LOSSES = ("lpo", "lpo_marginal")  # the heads HEAD applies to


def frozen_failed(runs: pd.DataFrame) -> set[int]:
    """Seeds whose frozen model's greedy decoding solves under half the exact prompts."""
    greedy = runs[(runs["method"] == "fixed") & (runs["tau"] == 0.0)]
    return {
        int(s)
        for s, r in zip(greedy["seed"], greedy["reward_exact"], strict=True)
        if not r >= FROZEN_MIN_EXACT
    }


def mark(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with status ``not_learned`` where a head or the seed's frozen model did
    not learn (diverged and failed runs keep their status)."""
    heads = runs["method"].isin(PREFERENCE_LOSSES).to_numpy()
    out = runs.copy()
    out.loc[heads] = mark_not_learned(runs.loc[heads], HEAD)
    bad = runs["seed"].isin(frozen_failed(runs)).to_numpy() & (runs["status"] == "ok").to_numpy()
    out.loc[bad, "status"] = "not_learned"
    return out


def describe() -> str:
    return f"LPO heads: {HEAD.describe()}; frozen model: greedy exact reward >= {FROZEN_MIN_EXACT}"
