"""PRISMA 2020 counts, every one counted from the review's records (nothing invented).

With a search log and a screening sheet (``data/search_log.csv``, ``data/screening.csv``) the
flow is counted from them (Page et al. 2021, BMJ 372:n71):

* identified: the hits screened per search, summed; searches of the previous version of the
  review go to "previous studies", searches whose resource is a trial registry to "registers",
  the others to "databases";
* duplicates: records kept by more than one search (``sum(records_kept)`` minus the number of
  distinct candidate records);
* records screened: identified minus duplicates; excluded at screening: screened minus the
  distinct candidates kept;
* reports sought: the distinct candidate records; not retrieved: those excluded with reason
  ``no_full_report``; assessed: sought minus not retrieved; excluded: by reason;
* included: records with decision ``included`` (new studies), plus the previous version's.

Without those sheets the evidence base's sources are counted as "other methods" (the earlier
behaviour), and the database/register boxes are shown as not performed.
"""

from __future__ import annotations

from .effects import SIGN_CONVENTION

__all__ = ["prisma_counts", "REASON_LABELS"]

#: screening reasons as the flow diagram words them
REASON_LABELS = {
    "not_randomised": "not randomised",
    "repeated_dosing_only": "repeated dosing only (no first-dose data)",
    "not_depression": "not a depressive disorder",
    "no_control": "no control condition",
    "ketamine_in_ect_anaesthesia": "ketamine as anaesthetic for ECT",
    "duplicate_report": "duplicate report",
    "secondary_analysis": "secondary analysis of an included trial",
    "protocol_or_ongoing": "protocol or ongoing",
    "no_full_report": "no full report",
    "other": "other reasons",
}


def _is_previous(resource: str) -> bool:
    return "previous version" in resource.lower()


def _is_register(resource: str) -> bool:
    r = resource.lower()
    return r.startswith("clinicaltrials.gov") or r.startswith("trial regist")


def _from_records(ev) -> dict:
    log, scr = ev.search_log, ev.screening
    hits = log["hits_screened"].fillna(0).astype(int)
    kept = log["records_kept"].fillna(0).astype(int)
    prev = log["resource"].astype(str).map(_is_previous)
    reg = log["resource"].astype(str).map(_is_register) & ~prev
    db = ~prev & ~reg
    distinct = int(len(scr))
    kept_new = int(kept[~prev].sum())
    prev_kept = int(kept[prev].sum())
    identified = int(hits[db].sum()) + int(hits[reg].sum())
    duplicates = max(kept_new + prev_kept - distinct, 0)
    screened = identified + prev_kept - duplicates
    not_retrieved = int((scr["reason"] == "no_full_report").sum())
    excluded = scr[(scr["decision"] == "excluded") & (scr["reason"] != "no_full_report")]
    by_reason = excluded["reason"].value_counts()
    return {
        "database_results": int(hits[db].sum()),
        "register_results": int(hits[reg].sum()),
        "previous_studies": prev_kept,
        "duplicates": duplicates,
        "records_screened": screened,
        "records_excluded": screened - distinct,
        "dbr_sought_reports": distinct,
        "dbr_notretrieved_reports": not_retrieved,
        "dbr_assessed": distinct - not_retrieved,
        "dbr_excluded": {REASON_LABELS.get(r, r): int(n) for r, n in by_reason.items()},
        "new_studies": int((scr["decision"] == "included").sum()),
    }


def prisma_counts(ev, fits: dict, cfg: dict) -> dict:
    """PRISMA 2020 counts (see the module docstring for how each box is counted)."""
    st = ev.studies
    primary = st[st["role"] == "primary"]
    used = set()
    for f in fits.values():
        if f.get("status") != "ok":
            continue
        for p in f.get("pools", []):
            used |= set(p.get("studies", []))
        used |= set(f.get("studies", []))
    quant = sorted(s for s in used if s in primary.index)
    scr = getattr(ev, "screening", None)
    if scr is not None and len(scr) and getattr(ev, "search_log", None) is not None and len(ev.search_log):
        counts = _from_records(ev)
        source = "search log and screening sheet"
    else:
        n_sources = int(len(st))
        excluded = {"external comparator (published synthesis)": int((st["role"] == "comparator").sum()),
                    "context source (consensus, review, commentary)": int((st["role"] == "context").sum())}
        counts = {
            "citations_results": n_sources,
            "other_sought_reports": n_sources,
            "other_assessed": n_sources,
            "other_excluded": {k: v for k, v in excluded.items() if v},
            "new_studies": int(len(primary)),
        }
        db = cfg.get("databases")
        if db:
            counts["database_results"] = db.get("n")
        source = "evidence base (no search log)"
    return {"counts": counts, "studies_in_quantitative_synthesis": len(quant), "source": source,
            "sign_convention": SIGN_CONVENTION}
