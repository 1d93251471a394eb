"""Effect sizes (yi, vi) from rows as the papers reported them, with every derivation named.

Sign convention (harmonised here, once): positive ``yi`` means benefit of ketamine over the
control, or, for an association, more acute dissociation going with more improvement. Each row
of the effects sheet says how its reported numbers map onto that convention (``benefit_sign``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import convert
from .._dist import norm_isf, norm_sf
from ..errors import KetametaError
from ..escalc import escalc
from ..evidence.gaps import NO_EFFECT_SIZE, row_gap

__all__ = ["compute", "SIGN_CONVENTION", "MEASURE_LABELS"]

SIGN_CONVENTION = (
    "positive = benefit of ketamine over control; for associations, positive = more acute "
    "dissociation with more improvement"
)

MEASURE_LABELS = {
    "ZCOR": "Fisher's z of the correlation (table shows r)",
    "SMD": "standardized mean difference (Hedges' g)",
    "RD": "risk difference (percentage points)",
    "OR": "log odds ratio (table shows OR)",
    "GEN": "regression slope",
}

OUT_COLUMNS = [
    "effect_id", "study_id", "citation_key", "comparison_id", "outcome", "scale", "arm",
    "time_days", "time_text", "form", "measure", "yi", "vi", "sei", "ci_lb", "ci_ub", "n_total",
    "n_derived", "dose", "grade", "source", "locator", "derivation", "benefit_sign", "value_type",
    "crossover_data", "events1", "total1", "events2", "total2",
]


class RowSkip(KetametaError):
    """A selected row that cannot yield an effect size of the analysis' measure."""


def _decimals(text) -> int | None:
    """Number of printed decimals of a numeric cell (None if unknown)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    t = str(text).strip().replace("\u2212", "-")
    if "e" in t.lower():
        return None
    return len(t.split(".")[1]) if "." in t else 0


def _raw(ev, row, col):
    raw = getattr(ev, "effects_raw", None)
    if raw is not None and col in raw.columns and row["effect_id"] in raw.index:
        return raw.loc[row["effect_id"], col]
    v = row.get(col)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def _num(row, col):
    v = row.get(col, np.nan)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def _need(row, *cols):
    missing = [c for c in cols if not np.isfinite(_num(row, c))]
    if missing:
        raise RowSkip(f"form {row['form']} without {', '.join(missing)}")


def _sign(row):
    s = _num(row, "benefit_sign")
    if s not in (1.0, -1.0):
        raise RowSkip("benefit_sign must be +1 or -1")
    return s


def _ci_or_se(row, yi, vi, crit):
    se = math.sqrt(vi)
    return yi - crit * se, yi + crit * se


# -- per measure --------------------------------------------------------------------------------

def _implied(ev, row, n_cap):
    return convert.n_from_r_p(
        _num(row, "estimate"), _num(row, "p"),
        r_decimals=_decimals(_raw(ev, row, "estimate")),
        p_decimals=_decimals(_raw(ev, row, "p")),
        p_op=(row.get("p_op") or "=") if isinstance(row.get("p_op"), str) else "=",
        n_cap=n_cap,
    )


def _zcor(ev, row, unknown_n, inconsistent_n="implied"):
    s = _sign(row)
    r = s * _num(row, "estimate")
    if row["form"] == "r_n":
        _need(row, "estimate", "n")
        n = _num(row, "n")
        note = ""
        if np.isfinite(_num(row, "p")):
            imp = _implied(ev, row, n_cap=None)
            if not imp.is_empty and not imp.contains(int(n)):
                note = (f"; NOTE the reported n = {n:g} is inconsistent with r and p (a Pearson "
                        f"t-test gives n {imp.n_min}-{imp.n_max})")
                if inconsistent_n == "implied":
                    eff = convert.r_to_z(r, imp.n)
                    return (eff.yi, eff.vi, float(imp.n), True,
                            f"DERIVED n = {imp.n} implied by r and p, used instead of the "
                            f"reported n{note}: {imp.derivation}; then {eff.derivation}; "
                            f"sign x{s:+g}")
        eff = convert.r_to_z(r, n)
        return (eff.yi, eff.vi, n, False,
                f"{eff.derivation}; reported r = {_num(row, 'estimate'):g}, sign x{s:+g}{note}")
    if row["form"] == "r_p":
        _need(row, "estimate", "p")
        if unknown_n == "exclude":
            raise RowSkip("correlation without a reported n (unknown_n = exclude)")
        cap = _num(row, "study_n")
        imp = _implied(ev, row, n_cap=int(cap) if np.isfinite(cap) else None)
        if imp.is_empty:
            raise RowSkip("no n is consistent with the reported r and p")
        if unknown_n == "study_n":
            if not np.isfinite(cap):
                raise RowSkip("the study's total n is not reported")
            eff = convert.r_to_z(r, cap)
            return (eff.yi, eff.vi, cap, True,
                    f"ASSUMED n = study total {cap:g} (the n of this correlation is not "
                    f"reported; r and p imply {imp.n_min}-{imp.n_max}); then {eff.derivation}; "
                    f"sign x{s:+g}")
        n = {"implied": imp.n, "bound_low": imp.n_min, "bound_high": imp.n_max}[unknown_n]
        if n is None:
            raise RowSkip(f"the {unknown_n} n is not bounded")
        eff = convert.r_to_z(r, n)
        what = {"implied": "n implied by r and p", "bound_low": "smallest n consistent with "
                "the rounding of r and p", "bound_high": "largest n consistent with the "
                "rounding of r and p"}[unknown_n]
        der = (f"DERIVED n = {n} ({what}; consistent range {imp.n_min}-{imp.n_max}): "
               f"{imp.derivation}; then {eff.derivation}; sign x{s:+g}")
        return eff.yi, eff.vi, float(n), True, der
    raise RowSkip(f"form {row['form']} cannot give a correlation")


def _slope_sd_as_se(row, b, sd):
    """A slope's dispersion printed as 'SD': decide between the SE and the SD/sqrt(n) readings.

    A regression coefficient has a standard error, not an SD; a label 'SD' is either a
    mislabelled SE or an SD of per-patient values whose SE would be ``SD / sqrt(n)``. The reading
    is checked against the reported p-value: the SE reading is used when its two-sided p lies
    within a factor of 2 of the reported p; otherwise the SD reading when the n it needs to give
    the reported p, ``(z(p/2) SD / |b|)^2``, is within a factor of 2 of the row's (or the study's)
    n; otherwise, and without a p-value, the row is skipped with the reason.
    """
    if not np.isfinite(sd):
        raise RowSkip("slope without SE")
    p = _num(row, "p")
    if not np.isfinite(p):
        raise RowSkip("slope dispersion labelled SD without a p-value: SE or SD/sqrt(n) cannot "
                      "be decided")
    p_se = 2 * norm_sf(abs(b) / sd)
    n = _num(row, "n")
    if not np.isfinite(n):
        n = _num(row, "study_n")
    n_needed = (float(norm_isf(p / 2)) * sd / abs(b)) ** 2
    note = (f"; INTERPRETED: the slope's dispersion is printed as 'SD' = {sd:g}; read as its "
            f"standard error, z = {abs(b) / sd:.2f} gives two-sided p = {p_se:.3f} (reported "
            f"p = {p:g}); read as an SD of which SE = SD/sqrt(n), the reported p would need "
            f"n = (z(p/2) x SD / |b|)^2 = {n_needed:.1f}"
            + (f" where {n:g} were analysed" if np.isfinite(n) else "") + ", so the SE reading is used")
    if p / 2 <= p_se <= 2 * p:
        return sd, note
    if np.isfinite(n) and n / 2 <= n_needed <= 2 * n:
        return sd / np.sqrt(n), (f"; INTERPRETED: the slope's dispersion 'SD' = {sd:g} is read as "
                                 f"an SD: SE = SD/sqrt({n:g}) reproduces the reported p = {p:g} "
                                 f"(the SE reading would give p = {p_se:.3g})")
    raise RowSkip(f"slope dispersion labelled SD = {sd:g}: neither the SE reading (p = {p_se:.3g}) "
                  f"nor the SD reading (needs n = {n_needed:.1f}) reproduces the reported p = {p:g}")


def _slope(row):
    s = _sign(row)
    b = _num(row, "estimate")
    if row["form"] == "slope_ci":
        _need(row, "estimate", "ci_lb", "ci_ub")
        lvl = _num(row, "level")
        eff = convert.slope_from_ci(b, _num(row, "ci_lb"), _num(row, "ci_ub"),
                                    level=lvl if np.isfinite(lvl) else 95)
        return s * eff.yi, eff.vi, f"{eff.derivation}; sign x{s:+g}"
    if row["form"] == "slope_p" and not np.isfinite(_num(row, "se")) and not np.isfinite(
            _num(row, "sd")):
        _need(row, "estimate", "p")
        p = _num(row, "p")
        z = float(norm_isf(p / 2))
        se = abs(b) / z
        return (s * b, se * se, f"DERIVED SE = |b| / z(p/2) = {abs(b):g} / {z:.4f} from the "
                f"reported two-sided p = {p:g} (normal approximation); sign x{s:+g}")
    if row["form"] in ("slope_se", "slope_p"):
        se = _num(row, "se")
        note = ""
        if not np.isfinite(se):
            se, note = _slope_sd_as_se(row, b, _num(row, "sd"))
        if not np.isfinite(se):
            raise RowSkip("slope without SE")
        eff = convert.slope_from_se(b, se)
        return s * eff.yi, eff.vi, f"{eff.derivation}{note}; sign x{s:+g}"
    raise RowSkip(f"form {row['form']} cannot give a regression slope")


def _events(row, arm):
    """Events and n of one arm (arm 1 = ketamine, 2 = control), from counts or percentages."""
    a_col, n_col, p_col = ("ai", "n1i", "pct1") if arm == 1 else ("ci", "n2i", "pct2")
    n = _num(row, n_col)
    if not np.isfinite(n):
        raise RowSkip(f"arm {arm}: n not reported")
    a = _num(row, a_col)
    if np.isfinite(a):
        return a, n, ""
    pct = _num(row, p_col)
    if not np.isfinite(pct):
        raise RowSkip(f"arm {arm}: neither events nor percentage reported")
    ec = convert.events_from_percent(pct, n, _decimals(repr(pct)) or 0)
    return float(ec.events), n, f"DERIVED arm {arm} events: {ec.derivation}; "


def _rd(row):
    s = _sign(row)
    form = row["form"]
    if form == "rd_ci":
        _need(row, "estimate", "ci_lb", "ci_ub")
        lvl = _num(row, "level")
        eff = convert.rd_from_ci(_num(row, "estimate"), _num(row, "ci_lb"), _num(row, "ci_ub"),
                                 level=lvl if np.isfinite(lvl) else 95, scale="percent")
        return s * eff.yi, eff.vi, f"{eff.derivation}; sign x{s:+g}"
    if form in ("events", "pct"):
        a1, n1, d1 = _events(row, 1)
        a2, n2, d2 = _events(row, 2)
        es = escalc("RD", ai=[a1], n1i=[n1], ci=[a2], n2i=[n2])
        yi, vi = 100 * float(es["yi"].iloc[0]), 1e4 * float(es["vi"].iloc[0])
        return s * yi, vi, (f"{d1}{d2}risk difference in percentage points from "
                            f"{a1:g}/{n1:g} vs {a2:g}/{n2:g} (escalc RD x 100); sign x{s:+g}")
    raise RowSkip(f"form {form} cannot give a risk difference")


def _or(row, spec=None):
    s = _sign(row)
    if row["form"] in ("events", "pct") and _crossover(row) is not None:
        a1, n1, d1 = _events(row, 1)
        a2, n2, d2 = _events(row, 2)
        rho, src = _rho(row, spec or {})
        eff = convert.log_or_crossover(a1, a2, n1, rho, corr_source=src)
        return s * eff.yi, eff.vi, f"{d1}{d2}{eff.derivation}; sign x{s:+g}"
    if row["form"] in ("events", "pct"):
        a1, n1, d1 = _events(row, 1)
        a2, n2, d2 = _events(row, 2)
        es = escalc("OR", ai=[a1], n1i=[n1], ci=[a2], n2i=[n2])
        der = (f"{d1}{d2}log odds ratio from {a1:g}/{n1:g} vs {a2:g}/{n2:g} (escalc OR; 1/2 added "
               f"to every cell of a table with a zero cell); sign x{s:+g}")
        return s * float(es["yi"].iloc[0]), float(es["vi"].iloc[0]), der
    if row["form"] == "or_ci":
        _need(row, "estimate", "ci_lb", "ci_ub")
        eff = convert.from_ci(_num(row, "estimate"), _num(row, "ci_lb"), _num(row, "ci_ub"),
                              log_scale=True)
        return s * eff.yi, eff.vi, f"{eff.derivation}; sign x{s:+g}"
    raise RowSkip(f"form {row['form']} cannot give an odds ratio")


def _crossover(row):
    """How a crossover trial's row is to be read: None (parallel trial or first-period data),
    'paired' or 'both_periods' (an empty cell of a crossover trial is read as both periods).
    """
    if row.get("study_design") != "crossover_rct":
        return None
    how = row.get("crossover_data")
    how = how if isinstance(how, str) and how else "both_periods"
    return None if how == "period1" else how


def _arm_sd(row, arm):
    """SD of an arm: as reported, or from its SE (form means_ses), with the derivation."""
    sd_col, se_col, n_col = ("sd1i", "se1i", "n1i") if arm == 1 else ("sd2i", "se2i", "n2i")
    sd = _num(row, sd_col)
    if np.isfinite(sd):
        return sd, ""
    se, n = _num(row, se_col), _num(row, n_col)
    if not (np.isfinite(se) and np.isfinite(n)):
        raise RowSkip(f"arm {arm}: neither SD nor SE with n reported")
    eff = convert.sd_from_se(se, n)
    return eff.yi, f"DERIVED arm {arm} {eff.derivation}; "


def _rho(row, spec, sd1=None, sd2=None):
    """Within-patient correlation of a crossover trial: from the SD of the differences (column
    ``sd`` of a paired row) when reported, else the configured assumption.
    """
    sd_diff = _num(row, "sd")
    if sd1 is not None and np.isfinite(sd_diff):
        return convert.correlation_from_sds(sd1, sd2, sd_diff), "from the SD of the within-patient differences"
    return float(spec.get("crossover_rho", 0.5)), "ASSUMED (config crossover_rho)"


def _smd(row, paired, spec=None):
    spec = spec or {}
    s = _sign(row)
    form = row["form"]
    how = _crossover(row)
    if how == "paired" and form == "d_ci":
        _need(row, "estimate", "ci_lb", "ci_ub")
        lvl = _num(row, "level")
        eff = convert.from_ci(_num(row, "estimate"), _num(row, "ci_lb"), _num(row, "ci_ub"),
                              level=lvl if np.isfinite(lvl) else 95)
        rho, src = _rho(row, spec)
        conv = convert.within_d_to_smd(eff.yi, eff.vi, rho, corr_source=src)
        return s * conv.yi, conv.vi, f"{eff.derivation}; within-patient d of a crossover trial: {conv.derivation}; sign x{s:+g}"
    if how is not None and form in ("means_sds", "means_ses"):
        _need(row, "m1i", "n1i", "m2i")
        sd1, d1 = _arm_sd(row, 1)
        sd2, d2 = _arm_sd(row, 2)
        n = _num(row, "n1i")
        rho, src = _rho(row, spec, sd1, sd2)
        eff = convert.smd_crossover(_num(row, "m1i"), sd1, _num(row, "m2i"), sd2, n, rho, corr_source=src)
        return s * eff.yi, eff.vi, f"{d1}{d2}{eff.derivation}; sign x{s:+g}"
    if form == "d_ci":
        _need(row, "estimate", "ci_lb", "ci_ub")
        lvl = _num(row, "level")
        eff = convert.from_ci(_num(row, "estimate"), _num(row, "ci_lb"), _num(row, "ci_ub"),
                              level=lvl if np.isfinite(lvl) else 95)
        return s * eff.yi, eff.vi, f"{eff.derivation}; sign x{s:+g}"
    if form == "d_p":
        n1, n2 = _num(row, "n1i"), _num(row, "n2i")
        if not (np.isfinite(n1) and np.isfinite(n2)):
            raise RowSkip("d reported without arm sizes: its variance cannot be computed")
        d = _num(row, "estimate")
        vi = 1 / n1 + 1 / n2 + d * d / (2 * (n1 + n2))
        return s * d, vi, (f"variance of d from arm sizes {n1:g}/{n2:g}: 1/n1 + 1/n2 + "
                           f"d^2/(2(n1+n2)) (Hedges & Olkin 1985); sign x{s:+g}")
    if form in ("means_sds", "means_ses"):
        _need(row, "m1i", "n1i", "m2i", "n2i")
        sd1, d1 = _arm_sd(row, 1)
        sd2, d2 = _arm_sd(row, 2)
        es = escalc("SMD", m1i=[_num(row, "m1i")], sd1i=[sd1], n1i=[_num(row, "n1i")],
                    m2i=[_num(row, "m2i")], sd2i=[sd2], n2i=[_num(row, "n2i")])
        return (s * float(es["yi"].iloc[0]), float(es["vi"].iloc[0]),
                f"{d1}{d2}Hedges' g from arm means/SDs/ns (escalc SMD, exact J, vtype LS); sign x{s:+g}")
    if form == "change_t":
        if paired is None:
            raise RowSkip("within-arm change without the other arm of the contrast")
        k_row, c_row = paired
        sd1 = convert.sd_from_t_paired(_num(k_row, "estimate"), _num(k_row, "t"),
                                       _num(k_row, "df") + 1)
        sd2 = convert.sd_from_t_paired(_num(c_row, "estimate"), _num(c_row, "t"),
                                       _num(c_row, "df") + 1)
        eff = convert.smd_from_within_changes(
            _num(k_row, "estimate"), float(sd1.sd), _num(k_row, "df") + 1,
            _num(c_row, "estimate"), float(sd2.sd), _num(c_row, "df") + 1)
        return (s * eff.yi, eff.vi,
                f"DERIVED: SD of change in each arm from its paired t ({sd1.derivation} | "
                f"{sd2.derivation}); {eff.derivation}; sign x{s:+g}")
    raise RowSkip(f"form {form} cannot give a standardized mean difference")


def _pair_change_rows(rows: pd.DataFrame):
    """Pair within-arm change rows of the same contrast: (ketamine row, control row)."""
    pairs = {}
    ch = rows[rows["form"] == "change_t"]
    for cid, grp in ch.groupby("comparison_id"):
        if len(grp) != 2:
            continue
        is_ket = grp["arm"].astype(str).str.contains("ketamine", case=False)
        if is_ket.sum() != 1:
            continue
        k_row = grp[is_ket].iloc[0]
        c_row = grp[~is_ket].iloc[0]
        pairs[cid] = (k_row, c_row)
    return pairs


#: forms whose control arm is given by its own n (and events), which a shared control splits
_ARM_FORMS = ("means_sds", "means_ses", "events")


def split_shared_controls(selected: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Split a control arm shared by several contrasts of one trial (Cochrane Handbook 23.3.4).

    Rows of one trial with the same outcome, scale, time and control condition but different
    ``comparison_id`` (e.g. two active arms against one placebo arm) would count the control
    patients once per contrast. Its ``n2i`` (and control events ``ci``) are divided equally among
    the m contrasts, so each patient is counted once. Returns the adjusted rows and, per
    effect_id, the sentence for its derivation.
    """
    rows = selected.copy()
    notes: dict = {}
    if rows.empty or "comparison_id" not in rows:
        return rows, notes
    arm = rows["form"].isin(_ARM_FORMS) & pd.to_numeric(rows["n2i"], errors="coerce").notna()
    keys = ["study_id", "outcome", "scale", "time_value", "time_unit", "control"]
    for _, g in rows[arm].groupby([rows.loc[arm, k].astype(str) for k in keys], sort=False):
        m = g["comparison_id"].nunique()
        if m < 2:
            continue
        for idx in g.index:
            n2 = float(rows.at[idx, "n2i"])
            rows.at[idx, "n2i"] = n2 / m
            text = f"control arm (n = {n2:g}) shared by {m} contrasts: its n"
            if rows.at[idx, "form"] == "events" and pd.notna(pd.to_numeric(rows.at[idx, "ci"], errors="coerce")):
                rows.at[idx, "ci"] = float(rows.at[idx, "ci"]) / m
                text += " and events"
            notes[rows.at[idx, "effect_id"]] = (f"{text} divided by {m} so each patient counts once "
                                                "(Cochrane Handbook v6.4, 23.3.4)")
    return rows, notes


def compute(ev, selected: pd.DataFrame, spec: dict):
    """Effect sizes of the selected rows for the analysis' measure.

    Returns
    -------
    effect_sizes, skipped : DataFrame
        ``effect_sizes`` has :data:`OUT_COLUMNS` (plus moderator columns added by the caller);
        ``skipped`` lists selected rows that could not yield an effect size, with ``reason``
        (for a row the data-gaps table lists, its reason there:
        :func:`ketameta.evidence.gaps.row_gap`) and ``filter`` (:data:`NO_EFFECT_SIZE`).
    """
    atype = spec["type"]
    measure = spec.get("measure", "GEN" if atype == "slopes" else None)
    crit = 1.959963984540054
    out, skipped = [], []
    pairs = _pair_change_rows(selected) if measure == "SMD" else {}
    used_pair_rows = set()
    for _, row in selected.iterrows():
        if row["form"] == "change_t" and row.get("comparison_id") in pairs:
            k_row, _ = pairs[row["comparison_id"]]
            if row["effect_id"] != k_row["effect_id"]:
                used_pair_rows.add(row["effect_id"])
                continue
        try:
            n_total, n_derived = np.nan, False
            if measure == "ZCOR":
                yi, vi, n_total, n_derived, der = _zcor(ev, row, spec.get("unknown_n", "implied"),
                                                        spec.get("inconsistent_n", "implied"))
            elif atype == "slopes":
                yi, vi, der = _slope(row)
            elif measure == "RD":
                yi, vi, der = _rd(row)
            elif measure == "OR":
                yi, vi, der = _or(row, spec)
            elif measure == "SMD":
                yi, vi, der = _smd(row, pairs.get(row.get("comparison_id")), spec)
            else:
                raise RowSkip(f"measure {measure!r} not supported for analysis type {atype!r}")
        except RowSkip as exc:
            # the data-gaps table's wording where it names what the row lacks (one reason per row)
            skipped.append({**row.to_dict(), "reason": row_gap(row) or str(exc), "filter": NO_EFFECT_SIZE})
            continue
        except KetametaError as exc:
            skipped.append({**row.to_dict(), "reason": f"conversion failed: {exc}", "filter": NO_EFFECT_SIZE})
            continue
        if not (np.isfinite(yi) and np.isfinite(vi) and vi > 0):
            skipped.append({**row.to_dict(), "reason": "effect size or variance not finite",
                            "filter": NO_EFFECT_SIZE})
            continue
        if not np.isfinite(n_total) and _crossover(row) is not None:
            n_total = _num(row, "n1i") if np.isfinite(_num(row, "n1i")) else _num(row, "n")  # each patient once
        if not np.isfinite(n_total):
            n_total = sum(_num(row, c) for c in ("n1i", "n2i") if np.isfinite(_num(row, c))) \
                or _num(row, "n")
        lo, hi = _ci_or_se(row, yi, vi, crit)
        counts = {}
        if measure in ("OR", "RD") and row["form"] in ("events", "pct"):
            try:
                (e1, t1, _), (e2, t2, _) = _events(row, 1), _events(row, 2)
                counts = {"events1": e1, "total1": t1, "events2": e2, "total2": t2}
            except RowSkip:
                counts = {}
        out.append({**counts,
            "effect_id": row["effect_id"], "study_id": row["study_id"],
            "citation_key": row.get("study_citation_key"),
            "comparison_id": row.get("comparison_id"), "outcome": row.get("outcome"),
            "scale": row.get("scale"), "arm": row.get("arm"), "time_days": row.get("time_days"),
            "time_text": row.get("time_text"), "form": row["form"], "measure": measure,
            "yi": yi, "vi": vi, "sei": math.sqrt(vi), "ci_lb": lo, "ci_ub": hi,
            "n_total": n_total, "n_derived": bool(n_derived), "dose": row.get("dose"),
            "grade": row.get("grade"), "source": row.get("source"),
            "locator": row.get("locator"), "derivation": der,
            "benefit_sign": row.get("benefit_sign"), "value_type": row.get("value_type"),
            "crossover_data": row.get("crossover_data") if _crossover(row) else None,
        })
    for eid in used_pair_rows:
        row = selected[selected["effect_id"] == eid].iloc[0]
        skipped.append({**row.to_dict(), "reason": "control arm of a within-arm change pair: "
                        "combined into the contrast row of the ketamine arm", "filter": "change pair"})
    es = pd.DataFrame(out, columns=OUT_COLUMNS)
    sk = pd.DataFrame(skipped)
    return es, sk
