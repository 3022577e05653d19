"""Claims with verdicts computed from the data, their rules, and Holm-adjusted verdicts.

A claim is a :class:`ClaimSpec`: a statistic computed from a runs table (an
:class:`~papergrid.stats.Evidence`: estimate and interval on the independent units), a
:class:`Rule` saying on which side of a threshold the claim puts the statistic, the
smallest effect of interest that sets that threshold, the effects to plant when
calibrating the rule by simulation, and the simulator itself
(:mod:`papergrid.calibration`). An experiment's analysis supplies the specs; this module
evaluates them the same way for every experiment.

Verdicts: ``supported`` when the whole interval lies on the claimed side of the threshold
(inside the band, for ``within``), ``not supported`` when it lies wholly on the other side
(outside the band), ``inconclusive`` otherwise. Equivalently, by one-sided p-values at
half the two-sided alpha; within each family (an experiment's claims) the same p-values
are Holm-adjusted, in each direction, for the ``verdict_holm`` column. Nothing here knows
an expected answer.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from papergrid.stats import Evidence, holm

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)

Side = Literal["above", "below", "within"]
SIDES = ("above", "below", "within")


def verdict(
    ci_low: float, ci_high: float, threshold: float, side: Side, threshold_high: float = math.nan
) -> str:
    """The verdict of an interval against a threshold (``within``: the band
    [threshold, threshold_high])."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if math.isnan(ci_low) or math.isnan(ci_high):
        return INCONCLUSIVE
    if side == "within":
        if threshold < ci_low and ci_high < threshold_high:
            return SUPPORTED
        if ci_high < threshold or ci_low > threshold_high:
            return NOT_SUPPORTED
        return INCONCLUSIVE
    if side == "below":
        ci_low, ci_high, threshold = -ci_high, -ci_low, -threshold
    if ci_low > threshold:
        return SUPPORTED
    if ci_high < threshold:
        return NOT_SUPPORTED
    return INCONCLUSIVE


@dataclass(frozen=True)
class Rule:
    """Where the claim puts its statistic: above or below ``threshold``, or within
    [threshold, threshold_high] (equivalence-style, for "no difference" claims)."""

    side: Side
    threshold: float
    threshold_high: float = math.nan

    def __post_init__(self):
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        if self.side == "within" and not self.threshold < self.threshold_high:
            raise ValueError("a 'within' rule needs threshold < threshold_high")

    def verdict(self, ev: Evidence, level: float) -> str:
        return verdict(*ev.interval(level), self.threshold, self.side, self.threshold_high)

    def p_values(self, ev: Evidence) -> tuple[float, float]:
        """(p of "supported", p of "not supported"): each rejects at alpha / 2 exactly when
        the two-sided interval at 1 - alpha gives that verdict."""
        if self.side == "above":
            return ev.p_greater(self.threshold), ev.p_less(self.threshold)
        if self.side == "below":
            return ev.p_less(self.threshold), ev.p_greater(self.threshold)
        lo, hi = self.threshold, self.threshold_high
        return max(ev.p_greater(lo), ev.p_less(hi)), min(ev.p_less(lo), ev.p_greater(hi))

    def describe(self) -> str:
        if self.side == "within":
            return f"within [{_fmt(self.threshold)}, {_fmt(self.threshold_high)}]"
        return f"{self.side} {_fmt(self.threshold)}"


@dataclass(frozen=True)
class Effects:
    """Values of the statistic to plant when calibrating a rule (its units).

    ``margin`` lies on the rule's boundary, where the claim is just false: "supported"
    there is a false support. ``paper`` is the paper's effect (power), ``opposite`` an
    effect against the claim (it should read "not supported"), ``no_effect`` the value
    with no effect at all where that is not the margin.
    """

    margin: float
    paper: float
    opposite: float
    no_effect: float = math.nan
    note: str = ""  # where the paper's effect comes from


@dataclass(frozen=True)
class ClaimSpec:
    """One claim: statistic, rule, smallest effect of interest, calibration scenarios."""

    experiment: str
    claim_id: str
    statement: str
    statistic: str  # what is estimated, with its interval method, in words
    rule: Rule
    sesoi: float  # smallest effect of interest, in the statistic's units
    sesoi_note: str  # where it comes from (the paper, or why this value)
    effects: Effects
    compute: Callable[[Any], Evidence]  # data (a runs table, or the experiment's tables)
    simulate: Callable[[float, np.random.Generator], Any]  # planted effect -> data
    family: str = ""  # Holm family; the experiment when empty
    # share of the calibration's draws per scenario: below 1 for statistics that refit a
    # law on every draw (their rates then carry a larger Monte Carlo error, reported)
    sims_share: float = 1.0

    @property
    def family_name(self) -> str:
        return self.family or self.experiment


@dataclass(frozen=True)
class Claim:
    """A computed claim: one row of claims.parquet."""

    experiment: str
    claim_id: str
    statement: str
    statistic: str
    estimate: float
    ci_low: float
    ci_high: float
    threshold: float
    side: str
    threshold_high: float
    sesoi: float
    n: int  # independent units behind the interval
    unit: str
    method: str
    p_support: float
    p_against: float
    verdict: str
    family: str
    family_size: int
    verdict_holm: str
    detail: str


CLAIMS_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("claim_id", pa.string()),
        ("statement", pa.string()),
        ("statistic", pa.string()),
        ("estimate", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("threshold", pa.float64()),
        ("side", pa.string()),
        ("threshold_high", pa.float64()),
        ("sesoi", pa.float64()),
        ("n", pa.int64()),
        ("unit", pa.string()),
        ("method", pa.string()),
        ("p_support", pa.float64()),
        ("p_against", pa.float64()),
        ("verdict", pa.string()),
        ("family", pa.string()),
        ("family_size", pa.int64()),
        ("verdict_holm", pa.string()),
        ("detail", pa.string()),
    ]
)


def evaluate(specs: Sequence[ClaimSpec], data: Any, level: float) -> list[Claim]:
    """Compute every claim on ``data``; Holm-adjust within each family."""
    evidence = [s.compute(data) for s in specs]
    alpha = (1 - level) / 2  # one-sided, matching the two-sided interval
    p = np.array([s.rule.p_values(ev) for s, ev in zip(specs, evidence, strict=True)])
    p = p.reshape(-1, 2)
    holm_verdict = [INCONCLUSIVE] * len(specs)
    families: dict[str, list[int]] = {}
    for i, s in enumerate(specs):
        families.setdefault(s.family_name, []).append(i)
    for idx in families.values():
        sup, against = holm(p[idx, 0]), holm(p[idx, 1])
        for j, i in enumerate(idx):
            if sup[j] <= alpha < against[j]:
                holm_verdict[i] = SUPPORTED
            elif against[j] <= alpha < sup[j]:
                holm_verdict[i] = NOT_SUPPORTED
    out = []
    for i, (s, ev) in enumerate(zip(specs, evidence, strict=True)):
        lo, hi = ev.interval(level)
        out.append(
            Claim(
                experiment=s.experiment,
                claim_id=s.claim_id,
                statement=s.statement,
                statistic=s.statistic,
                estimate=float(ev.estimate),
                ci_low=float(lo),
                ci_high=float(hi),
                threshold=float(s.rule.threshold),
                side=s.rule.side,
                threshold_high=float(s.rule.threshold_high),
                sesoi=float(s.sesoi),
                n=int(ev.n_units),
                unit=ev.unit,
                method=ev.method,
                p_support=float(p[i, 0]),
                p_against=float(p[i, 1]),
                verdict=s.rule.verdict(ev, level),
                family=s.family_name,
                family_size=len(families[s.family_name]),
                verdict_holm=holm_verdict[i],
                detail=ev.detail,
            )
        )
    return out


def claims_table(claims: Sequence[Claim]) -> pa.Table:
    return pa.Table.from_pylist([asdict(c) for c in claims], schema=CLAIMS_SCHEMA)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def band(c: Claim) -> str:
    return Rule(c.side, c.threshold, c.threshold_high).describe()


def claims_markdown(claims: Sequence[Claim], level: float = 0.95) -> str:
    if not claims:
        return "No claims.\n"
    fam = sorted({(c.family, c.family_size) for c in claims})
    lines = [
        f"Verdicts from {level:.0%} intervals on the independent units; Holm: the same "
        "verdicts with p-values Holm-adjusted within the family "
        + ", ".join(f"`{f}` ({m} claims)" for f, m in fam)
        + ".",
        "",
        f"| claim | statistic | estimate | {level:.0%} CI | rule | n | verdict | Holm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        lines.append(
            f"| {c.statement} | {c.statistic} | {_fmt(c.estimate)} | "
            f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] | {band(c)} | {c.n} {c.unit} | "
            f"**{c.verdict}** | {c.verdict_holm} |"
        )
    details = [f"- `{c.claim_id}`: {c.detail}" for c in claims if c.detail]
    return "\n".join(lines + ([""] + details if details else [])) + "\n"


def claims_job(
    analysis: str,
    inputs: dict[str, str],
    settings: dict,
    level: float,
    parquet_out: str,
    md_out: str,
) -> None:
    """Evaluate an experiment's claims: ``analysis`` names its module, which provides
    ``claim_data(inputs)`` and ``claim_specs(data, **settings)``."""
    from papergrid.io import write_parquet, write_text

    module = importlib.import_module(analysis)
    data = module.claim_data(inputs)
    found = evaluate(module.claim_specs(data, **settings), data, level)
    write_parquet(claims_table(found), parquet_out)
    write_text(claims_markdown(found, level), md_out)
