"""PRISMA 2020 counts computed from the evidence base (nothing invented)."""

from __future__ import annotations

from .effects import SIGN_CONVENTION

__all__ = ["prisma_counts"]


def prisma_counts(ev, fits: dict, cfg: dict) -> dict:
    """PRISMA 2020 counts computed from the evidence base (nothing invented).

    The evidence base was assembled from sourced extraction notes, not from a database or
    register search: those boxes are left "not reported" unless the configuration gives counts
    (with their source).
    """
    st = ev.studies
    n_sources = int(len(st))
    primary = st[st["role"] == "primary"]
    used = set()
    for f in fits.values():
        if f.get("status") != "ok":
            continue
        for p in f.get("pools", []):
            used |= set(p.get("studies", []))
        used |= set(f.get("studies", []))
    quant = sorted(s for s in used if s in primary.index)
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
    return {"counts": counts, "studies_in_quantitative_synthesis": len(quant),
            "sign_convention": SIGN_CONVENTION}
