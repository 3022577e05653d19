"""Claims with verdicts computed from confidence intervals.

A claim says that some statistic lies above or below a threshold. The verdict
is ``supported`` when the whole interval lies on the claimed side,
``not supported`` when the whole interval lies on the other side, and
``inconclusive`` otherwise (or when the statistic could not be computed).
Nothing here knows any expected answer: verdicts come from the data alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import pyarrow as pa

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"

Side = Literal["above", "below", "within"]


def verdict(
    ci_low: float, ci_high: float, threshold: float, side: Side, threshold_high: float = math.nan
) -> str:
    """``within`` claims the statistic lies in [threshold, threshold_high]: supported if the
    interval lies inside the band, not supported if it lies wholly outside it."""
    if math.isnan(ci_low) or math.isnan(ci_high):
        return INCONCLUSIVE
    if side == "within":
        if threshold <= ci_low and ci_high <= threshold_high:
            return SUPPORTED
        if ci_high < threshold or ci_low > threshold_high:
            return NOT_SUPPORTED
        return INCONCLUSIVE
    if side == "below":
        if ci_high < threshold:
            return SUPPORTED
        if ci_low > threshold:
            return NOT_SUPPORTED
    elif side == "above":
        if ci_low > threshold:
            return SUPPORTED
        if ci_high < threshold:
            return NOT_SUPPORTED
    else:
        raise ValueError(f"side must be 'above' or 'below', got {side!r}")
    return INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    experiment: str
    claim_id: str
    statement: str
    statistic: str  # what was estimated, in words
    estimate: float
    ci_low: float
    ci_high: float
    threshold: float
    side: str  # the claim holds if the statistic is <side> the threshold
    n: int  # runs (or points) behind the estimate
    verdict: str
    detail: str = ""
    threshold_high: float = math.nan  # upper end of the band for side == "within"


def make_claim(
    experiment: str,
    claim_id: str,
    statement: str,
    statistic: str,
    estimate: float,
    ci: tuple[float, float],
    threshold: float,
    side: Side,
    n: int,
    detail: str = "",
    threshold_high: float = math.nan,
) -> Claim:
    return Claim(
        experiment=experiment,
        claim_id=claim_id,
        statement=statement,
        statistic=statistic,
        estimate=float(estimate),
        ci_low=float(ci[0]),
        ci_high=float(ci[1]),
        threshold=float(threshold),
        side=side,
        n=int(n),
        verdict=verdict(ci[0], ci[1], threshold, side, threshold_high),
        detail=detail,
        threshold_high=float(threshold_high),
    )


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
        ("n", pa.int64()),
        ("verdict", pa.string()),
        ("detail", pa.string()),
        ("threshold_high", pa.float64()),
    ]
)


def claims_table(claims: Sequence[Claim]) -> pa.Table:
    return pa.Table.from_pylist([asdict(c) for c in claims], schema=CLAIMS_SCHEMA)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def _band(c: Claim) -> str:
    if c.side == "within":
        return f"within [{_fmt(c.threshold)}, {_fmt(c.threshold_high)}]"
    return f"{c.side} {_fmt(c.threshold)}"


def claims_markdown(claims: Sequence[Claim]) -> str:
    lines = [
        "| claim | statistic | estimate | 95% CI | threshold | n | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        lines.append(
            f"| {c.statement} | {c.statistic} | {_fmt(c.estimate)} | "
            f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] | {_band(c)} | {c.n} | "
            f"**{c.verdict}** |"
        )
    details = [f"- `{c.claim_id}`: {c.detail}" for c in claims if c.detail]
    return "\n".join(lines + ([""] + details if details else [])) + "\n"
