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
are Holm-adjusted, in each direction, for the Holm verdict. Nothing here knows an expected
answer.

Every claim then passes the validity gates of :mod:`papergrid.gates`. The raw verdicts are
kept (``verdict_raw``, ``verdict_holm_raw``); ``verdict`` and ``verdict_holm`` are
``inconclusive`` wherever a gate failed, with the gate in ``gate`` and its reason in
``gate_reason``. The gates that read the data run here (:func:`evaluate`); the one that
reads the calibration runs after it (:func:`apply_calibration`), which also adds the power
planner's line for each open claim.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.gates import (
    FitCheck,
    could_not_fail,
    identity,
    learned_counts,
    not_learned_reason,
)
from papergrid.stats import Evidence, holm, no_evidence

log = logging.getLogger(__name__)

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
    # Validity gates (papergrid.gates). The runs the claim reads, as arms of column ==
    # value filters on the runs table (None: all of them), for the not-learned count:
    reads: Sequence[Mapping[str, Any]] | None = None
    # the control arm's value of the same statistic: a "supported" whose control is also
    # supported by the same rule is not about the method
    control: Callable[[Any], Evidence] | None = None
    control_label: str = ""
    # the check of the fitted law the statistic is read off (lack of fit, held-out size)
    fit_check: Callable[[Any], FitCheck] | None = None
    # "" when the derived quantity lies inside the trained grid, else why it does not
    range_check: Callable[[Any], str] | None = None
    # "" when the runs learned the part of the task the claim reads (one skill of several,
    # say), else why not: runs can pass the run-level rule and still be at chance there
    learned_check: Callable[[Any], str] | None = None

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
    verdict_raw: str = INCONCLUSIVE  # before the validity gates
    verdict_holm_raw: str = INCONCLUSIVE
    gate: str = ""  # the first gate the claim failed (papergrid.gates.GATES), "" if none
    gate_reason: str = ""
    runs_read: int = 0  # trained runs the claim reads (status ok or not_learned)
    runs_not_learned: int = 0
    plan: str = ""  # the power planner's line for an open claim (apply_calibration)


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
        ("verdict_raw", pa.string()),
        ("verdict_holm_raw", pa.string()),
        ("gate", pa.string()),
        ("gate_reason", pa.string()),
        ("runs_read", pa.int64()),
        ("runs_not_learned", pa.int64()),
        ("plan", pa.string()),
    ]
)


def compute_evidence(spec: ClaimSpec, data: Any) -> Evidence:
    """The claim's statistic; one that raises (a grid too small for its fit, say) gives an
    unbounded interval naming the error, so the other claims and the report still come."""
    try:
        return spec.compute(data)
    except Exception as err:  # noqa: BLE001 - reported in the claim's row and the log
        log.warning("claim %s: statistic failed: %r", spec.claim_id, err)
        return no_evidence(math.nan, 0, "units", f"statistic failed: {type(err).__name__}: {err}")


def data_gate(
    spec: ClaimSpec, ev: Evidence, data: Any, raw: str, level: float
) -> tuple[str, str, int, int]:
    """(gate, reason, runs read, runs not learned): the first data gate the claim fails
    (see :mod:`papergrid.gates`), or ("", "", ...) when it passes them all."""
    try:
        counts = learned_counts(data, spec.reads)
        why = not_learned_reason(counts)
    except KeyError as err:
        counts, why = [], f"its runs cannot be counted: {err}"
    n_read, n_bad = sum(c[0] for c in counts), sum(c[1] for c in counts)
    if not why and spec.learned_check is not None:
        try:
            why = spec.learned_check(data)
        except Exception as err:  # noqa: BLE001 - a check that cannot run does not pass
            why = f"learned check failed: {type(err).__name__}: {err}"
    if why:
        return "not_learned", why, n_read, n_bad
    lo, hi = ev.interval(level)
    if identity(lo, hi, ev.estimate, ev.n_units, spec.sesoi):
        why = f"identity: no spread over its {ev.n_units} {ev.unit}"
        return "identity", why, n_read, n_bad
    checks: list[tuple[str, Callable[[], str]]] = []
    if spec.fit_check is not None:
        checks.append(("lack_of_fit", lambda: _fit_reason(spec.fit_check(data))))
    if spec.range_check is not None:
        checks.append(
            ("extrapolation", lambda: _prefixed("outside the grid", spec.range_check(data)))
        )
    if spec.control is not None and raw == SUPPORTED:
        checks.append(("control", lambda: _control_reason(spec, data, level)))
    for gate, reason in checks:
        try:
            why = reason()
        except Exception as err:  # noqa: BLE001 - a check that cannot run does not pass
            why = f"{gate} check failed: {type(err).__name__}: {err}"
        if why:
            return gate, why, n_read, n_bad
    return "", "", n_read, n_bad


def _prefixed(prefix: str, why: str) -> str:
    return f"{prefix}: {why}" if why else ""


def _fit_reason(check: FitCheck) -> str:
    return "" if check.passed else f"the form does not fit these runs: {check.reason}"


def _control_reason(spec: ClaimSpec, data: Any, level: float) -> str:
    ev = spec.control(data)  # type: ignore[misc]
    if spec.rule.verdict(ev, level) != SUPPORTED:
        return ""
    lo, hi = ev.interval(level)
    label = spec.control_label or "the control arm"
    return (
        f"{label} passes the same rule ({_fmt(ev.estimate)} [{_fmt(lo)}, {_fmt(hi)}], "
        f"{spec.rule.describe()})"
    )


def evaluate(specs: Sequence[ClaimSpec], data: Any, level: float) -> list[Claim]:
    """Compute every claim on ``data``; Holm-adjust within each family."""
    evidence = [compute_evidence(s, data) for s in specs]
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
        raw = s.rule.verdict(ev, level)
        gate, why, n_read, n_bad = data_gate(s, ev, data, raw, level)
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
                verdict=INCONCLUSIVE if gate else raw,
                family=s.family_name,
                family_size=len(families[s.family_name]),
                verdict_holm=INCONCLUSIVE if gate else holm_verdict[i],
                detail=ev.detail,
                verdict_raw=raw,
                verdict_holm_raw=holm_verdict[i],
                gate=gate,
                gate_reason=why,
                runs_read=n_read,
                runs_not_learned=n_bad,
            )
        )
    return out


def apply_calibration(
    claims: Sequence[Claim], calibration: pd.DataFrame, plans: Mapping[str, str] | None = None
) -> list[Claim]:
    """The could-not-fail gate from the calibration summary (one row per claim: the rate of
    'not supported' at the opposite effect and of 'supported' at the paper's), for claims
    that passed the data gates; ``plans`` adds the planner's line to each open claim."""
    cal = calibration.set_index("claim_id") if len(calibration) else None
    out = []
    for c in claims:
        row = cal.loc[c.claim_id] if cal is not None and c.claim_id in cal.index else None
        gate, why = "", ""
        if not c.gate and c.verdict_raw != INCONCLUSIVE:
            rates = (
                (float(row["opposite_not_supported"]), float(row["power"]))
                if row is not None
                else (math.nan, math.nan)
            )
            if not all(math.isfinite(r) for r in rates):
                error = str(row["error"]) if row is not None and "error" in row else ""
                gate = "not_calibrated"
                why = "not calibrated" + (f": {error}" if error else "")
            else:
                gate, why = "could_not_fail", could_not_fail(c.verdict_raw, *rates)
        if why:
            c = replace(
                c, gate=gate, gate_reason=why, verdict=INCONCLUSIVE, verdict_holm=INCONCLUSIVE
            )
        # more seeds decide an open claim only where no gate failed: they do not make a
        # law fit, bring an optimum into the grid, or teach runs that did not learn
        plan = (plans or {}).get(c.claim_id, "")
        out.append(replace(c, plan=plan if c.verdict_holm == INCONCLUSIVE and not c.gate else ""))
    return out


def shown_verdict(verdict: str, gate_reason: str) -> str:
    """The verdict as the reports show it: "inconclusive (reason)" where a gate failed."""
    return f"{verdict} ({gate_reason})" if gate_reason else verdict


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
        f"Verdicts from {level:.0%} intervals on the independent units, after the validity "
        "gates (docs/verdicts.md); raw: the rule's verdict before them; Holm: with p-values "
        "Holm-adjusted within the family " + ", ".join(f"`{f}` ({m} claims)" for f, m in fam) + ".",
        "",
        f"| claim | statistic | estimate | {level:.0%} CI | rule | n | verdict | Holm | raw |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        lines.append(
            f"| {c.statement} | {c.statistic} | {_fmt(c.estimate)} | "
            f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] | {band(c)} | {c.n} {c.unit} | "
            f"**{shown_verdict(c.verdict, c.gate_reason)}** | {c.verdict_holm} | "
            f"{c.verdict_raw} / {c.verdict_holm_raw} |"
        )
    details = [f"- `{c.claim_id}`: {c.detail}" for c in claims if c.detail]
    learned = [
        f"- `{c.claim_id}`: {c.runs_not_learned} of {c.runs_read} runs read did not learn"
        for c in claims
        if c.runs_not_learned
    ]
    plans = [f"- `{c.claim_id}`: {c.plan}" for c in claims if c.plan]
    out = lines + ([""] + details if details else [])
    out += (
        (["", "Runs that did not learn (counted, never in a statistic):", ""] + learned)
        if learned
        else []
    )
    out += (["", "What would decide the open claims (power planner):", ""] + plans) if plans else []
    return "\n".join(out) + "\n"


def claims_from_table(table: pd.DataFrame) -> list[Claim]:
    """Claims read back from claims.parquet (or the raw claims of the claims rule)."""
    names = [f.name for f in CLAIMS_SCHEMA]
    return [Claim(**{k: _py(r[k]) for k in names}) for r in table[names].to_dict("records")]


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def claims_job(
    analysis: str,
    inputs: dict[str, str],
    settings: dict,
    level: float,
    parquet_out: str,
) -> None:
    """Evaluate an experiment's claims, with their data gates, before calibration:
    ``analysis`` names its module, which provides ``claim_data(inputs)`` and
    ``claim_specs(data, **settings)``."""
    from papergrid.io import write_parquet

    module = importlib.import_module(analysis)
    data = module.claim_data(inputs)
    found = evaluate(module.claim_specs(data, **settings), data, level)
    write_parquet(claims_table(found), parquet_out)


def verdicts_job(
    raw_path: str,
    calibration_path: str,
    level: float,
    plans: Mapping[str, str],
    parquet_out: str,
    md_out: str,
) -> None:
    """The claims as reported: the raw claims with the calibration's gate and the
    planner's lines (``plans``, claim id -> line)."""
    from papergrid.io import write_parquet, write_text

    claims = claims_from_table(pd.read_parquet(raw_path))
    final = apply_calibration(claims, pd.read_parquet(calibration_path), plans)
    write_parquet(claims_table(final), parquet_out)
    write_text(claims_markdown(final, level), md_out)
