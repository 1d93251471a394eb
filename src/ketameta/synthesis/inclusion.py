"""Which rows each analysis used and which it left out, and why: the run summary and ``explain``.

Every analysis writes its effect sizes and, beside them, every other row of its question(s) with
the reason it was not used (:func:`ketameta.synthesis.select.select_rows`, the effect-size
computation and the kind's own steps). This module reads those two frames per analysis and
answers three questions without computing anything anew, so the reasons it shows are the
strings of the exclusion files:

* :func:`run_summary` -- per analysis the number of effect sizes used (k), the rows not used by
  reason, and the rows not used that are new since the previous summary (named, with the
  reason); :func:`summary_markdown` and :func:`summary_text` render it;
* :func:`explain_study` -- each row of one study in every analysis: used, or the reason (and the
  configuration filter) that left it out; :func:`explain_text` renders it;
* :func:`read_frames` -- the frames of every analysis from a directory of effect-size files.

The rows not used are listed as PRISMA 2020 asks for excluded reports (Page et al. 2021, BMJ
372:n71, item 16b: "cite studies that might appear to meet the inclusion criteria, but which
were excluded, and explain why they were excluded").
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..evidence.gaps import NO_EFFECT_SIZE

__all__ = ["PART_COLUMNS", "row_status", "analysis_summary", "run_summary", "summary_markdown",
           "summary_text", "explain_study", "explain_text", "read_frames"]

#: columns that split one analysis into parts (subgroups, summary-of-findings outcomes, domains)
PART_COLUMNS = ("subgroup", "analysis", "domain")
_ID_COLUMNS = {"effect_id": str, "study_id": str, "comparison_id": str, "citation_key": str,
               "subgroup": str, "analysis": str, "domain": str, "reason": str, "filter": str}


def _key_column(frame: pd.DataFrame) -> str:
    """Rows are effect-size rows (``effect_id``) or, for study-level kinds, studies."""
    return "effect_id" if "effect_id" in frame.columns else "study_id"


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def row_status(es: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    """One record per row and part of an analysis: used, or not used with its reason.

    Parameters
    ----------
    es, excluded : DataFrame
        The effect sizes of an analysis and its exclusions (column ``reason``; optional
        ``filter``, the configuration key that left the row out), as
        :func:`ketameta.synthesis.pipeline.effect_sizes` returns them or as written to
        ``<analysis>.csv`` and ``<analysis>.excluded.csv``.

    Returns
    -------
    DataFrame
        Columns ``key`` (effect_id, or study_id for study-level kinds), ``study_id``, ``part``
        (subgroup, outcome analysis or domain; empty for single-part analyses), ``status``
        (``used`` / ``not used``), ``reason`` and ``filter`` (empty for used rows).
    """
    out = []
    for frame, status in ((es, "used"), (excluded, "not used")):
        if frame is None or frame.empty:
            continue
        key = _key_column(frame)
        part = next((c for c in PART_COLUMNS if c in frame.columns), None)
        for rec in frame.to_dict("records"):
            out.append({"key": _text(rec.get(key)), "study_id": _text(rec.get("study_id")),
                        "part": _text(rec.get(part)) if part else "", "status": status,
                        "reason": _text(rec.get("reason")) if status == "not used" else "",
                        "filter": _text(rec.get("filter")) if status == "not used" else ""})
    return pd.DataFrame(out, columns=["key", "study_id", "part", "status", "reason", "filter"])


def _label(reason: str, filt: str) -> str:
    """Short name of an exclusion for the console: its filter key, else the reason."""
    return filt.removeprefix("select.") if filt else reason


def analysis_summary(es: pd.DataFrame, excluded: pd.DataFrame, title: str = "") -> dict:
    """The k used and the rows not used of one analysis (each row once: with its first reason).

    A row used in one part of an analysis (one subgroup, say) counts as used. Returns ``title``,
    ``k``, ``studies``, ``used`` (keys), ``not_used`` (key -> reason), ``by_reason`` and
    ``by_filter`` (counts, largest first), and ``study_of`` (key -> study_id of the rows not used).
    """
    st = row_status(es, excluded)
    used = st[st["status"] == "used"]
    used_keys = sorted(set(used["key"]))
    rest = st[(st["status"] == "not used") & ~st["key"].isin(used_keys)]
    rest = rest.drop_duplicates("key", keep="first").sort_values("key")
    counts = Counter(rest["reason"])
    labels = Counter(_label(r, f) for r, f in zip(rest["reason"], rest["filter"]))
    return {
        "title": title, "k": len(used_keys), "studies": int(used["study_id"].replace("", pd.NA).nunique()),
        "used": used_keys, "not_used": dict(zip(rest["key"], rest["reason"])),
        "study_of": dict(zip(rest["key"], rest["study_id"])),
        "by_reason": [{"reason": r, "rows": n} for r, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))],
        "by_filter": [{"filter": r, "rows": n} for r, n in sorted(labels.items(), key=lambda x: (-x[1], x[0]))],
    }


def _new_not_used(now: dict, before: dict | None) -> list[dict]:
    """Rows not used now that the previous summary did not know, or that it counted as used."""
    if before is None:
        return []
    was_used = set(before.get("used", []))
    known = was_used | set(before.get("not_used", {}))
    out = []
    for key, reason in now["not_used"].items():
        if key in was_used or key not in known:
            out.append({"key": key, "study_id": now["study_of"].get(key, ""), "reason": reason,
                        "was": "used in the previous run" if key in was_used else "new row"})
    return out


def run_summary(frames: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
                previous: Mapping | None = None, titles: Mapping[str, str] | None = None,
                headlines: list[dict] | None = None, report: str | None = None) -> dict:
    """The summary of one run: per analysis k, the rows not used by reason, and what is new.

    Parameters
    ----------
    frames : mapping
        Analysis id -> ``(effect_sizes, excluded)`` (in the order the summary lists them).
    previous : mapping, optional
        The summary of the previous run (what this function returned then); without it, no row
        is called new.
    titles : mapping, optional
        Analysis id -> title.
    headlines : list of dict, optional
        The run's headline estimates (:func:`ketameta.synthesis.living.headline_rows`).
    report : str, optional
        Where the report was written (shown last).

    Returns
    -------
    dict
        ``analyses`` (id -> :func:`analysis_summary` plus ``new_not_used``), ``new_not_used``
        (every analysis' new rows not used, flattened, with ``analysis``), ``previous``
        (whether there was a previous summary), ``headlines`` and ``report``.
    """
    titles = titles or {}
    prev = (previous or {}).get("analyses", {}) if previous else None
    analyses, new = {}, []
    for aid, (es, excluded) in frames.items():
        s = analysis_summary(es, excluded, titles.get(aid, aid))
        s["new_not_used"] = _new_not_used(s, prev.get(aid) if prev is not None else None)
        new += [{"analysis": aid, **r} for r in s["new_not_used"]]
        del s["study_of"]  # (named in new_not_used; the rest is in the exclusion files)
        analyses[aid] = s
    return {"previous": previous is not None, "analyses": analyses, "new_not_used": new,
            "headlines": list(headlines or []), "report": report}


def _num(x) -> str:
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:.3g}"


def _headline_line(h: dict) -> str:
    """One headline estimate: analysis, what is estimated, scale, estimate [CI], k, status."""
    ci = ""
    if h.get("ci_lb") is not None and h.get("ci_ub") is not None:
        ci = f" [{_num(h['ci_lb'])}, {_num(h['ci_ub'])}]"
    k = f", k = {h['k']}" if h.get("k") is not None else ""
    scale = f" {h['scale']}" if h.get("scale") else ""
    status = f" ({h['status']})" if h.get("status") else ""
    return f"{h.get('analysis')}, {h.get('estimate_name')}:{scale} {_num(h['estimate'])}{ci}{k}{status}"


def _headlines(summary: dict) -> list[str]:
    """The estimated headlines, then how many could not be estimated."""
    rows = summary.get("headlines") or []
    done = [_headline_line(h) for h in rows if h.get("estimate") is not None]
    missing = len(rows) - len(done)
    return done + ([f"{missing} more not estimable with the current data"] if missing else [])


def _studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


def _new_lines(summary: dict) -> list[str]:
    if not summary["previous"]:
        return ["(first summary: there is no previous run to compare with)"]
    if not summary["new_not_used"]:
        return ["none"]
    return [f"{r['analysis']}: {r['key']} ({r['study_id']}, {r['was']}): {r['reason']}"
            for r in summary["new_not_used"]]


def summary_markdown(summary: dict) -> str:
    """The run summary as Markdown: per analysis k and every reason with its count."""
    lines = ["# Run summary", "",
             "k = effect sizes (rows) used. Every row not used is listed with its reason in "
             "`effect_sizes/<analysis>.excluded.csv`; `make explain STUDY=<study_id>` shows one "
             "study's rows in every analysis.", "",
             "## Rows not used that are new since the previous run", ""]
    lines += [f"- {ln}" for ln in _new_lines(summary)] + ["", "## Analyses", ""]
    for aid, s in summary["analyses"].items():
        lines.append(f"### {aid}: k = {s['k']} ({_studies(s['studies'])}), "
                     f"{len(s['not_used'])} rows not used")
        lines.append("")
        lines += [f"- {r['rows']} x {r['reason']}" for r in s["by_reason"]] or ["- every row used"]
        lines.append("")
    if summary["headlines"]:
        lines += ["## Headline estimates", ""]
        lines += [f"- {ln}" for ln in _headlines(summary)] + [""]
    if summary.get("report"):
        lines += [f"Report: {summary['report']}", ""]
    return "\n".join(lines)


def summary_text(summary: dict, width: int = 100) -> str:
    """The run summary for the console: one line per analysis, reasons by filter."""
    lines = ["Run summary (k = effect sizes used; rows not used, by filter or reason):"]
    w = max((len(a) for a in summary["analyses"]), default=0)
    for aid, s in summary["analyses"].items():
        head = f"  {aid:<{w}}  k = {s['k']:>3} ({_studies(s['studies'])})"
        if s["not_used"]:
            parts = ", ".join(f"{r['filter']} {r['rows']}" for r in s["by_filter"])
            head += f"; not used {len(s['not_used'])}: {parts}"
        lines += textwrap.wrap(head, width=width, subsequent_indent=" " * (w + 6),
                               break_on_hyphens=False)
    lines.append("Not used, new since the previous run:")
    lines += [f"  {ln}" for ln in _new_lines(summary)]
    if summary["headlines"]:
        lines.append("Headline estimates:")
        lines += [f"  {ln}" for ln in _headlines(summary)]
    if summary.get("report"):
        lines.append(f"Report: {summary['report']}")
    return "\n".join(lines) + "\n"


def explain_study(study_id: str, frames: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
                  effects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every row of one study in every analysis: used, or the reason that left it out.

    Parameters
    ----------
    study_id : str
        The study (``study_id`` of the sheets).
    frames : mapping
        Analysis id -> ``(effect_sizes, excluded)``.
    effects : DataFrame, optional
        The effects sheet: its rows of the study that no analysis reads are listed too
        (analysis empty, status ``read by no analysis``).

    Returns
    -------
    DataFrame
        Columns ``analysis``, ``part``, ``key``, ``status``, ``reason``, ``filter``.
    """
    out = []
    seen = set()
    for aid, (es, excluded) in frames.items():
        st = row_status(es, excluded)
        st = st[st["study_id"] == study_id]
        for r in st.to_dict("records"):
            out.append({"analysis": aid, **{k: r[k] for k in ("part", "key", "status", "reason", "filter")}})
            seen.add(r["key"])
    if effects is not None and "effect_id" in effects.columns:
        mine = effects[effects["study_id"].astype(str) == study_id]
        for eid in mine["effect_id"].astype(str):
            if eid not in seen:
                out.append({"analysis": "", "part": "", "key": eid, "status": "read by no analysis",
                            "reason": "its question is not the question of any configured analysis",
                            "filter": ""})
    return pd.DataFrame(out, columns=["analysis", "part", "key", "status", "reason", "filter"])


def _step(filt: str) -> str:
    """How an exclusion's ``filter`` reads in ``explain``: a configuration filter, or the step."""
    if filt == NO_EFFECT_SIZE:
        return "passed the filters; no effect size could be computed"
    if filt.startswith(("select.", "domains.")) or filt in ("grades", "role"):
        return f"filter {filt}"
    return f"step: {filt}"


def explain_text(table: pd.DataFrame, study_id: str) -> str:
    """:func:`explain_study` for the console: per analysis, each row used or why not.

    In an analysis with parts (subgroups, outcomes, domains), a row with the same status and
    reason in every part is shown once; otherwise each part is named.
    """
    if table.empty:
        return f"{study_id}: no row of this study appears in any analysis.\n"
    lines = [f"Rows of {study_id}, per analysis (used, or the reason they were not used):"]
    for aid, grp in table.groupby("analysis", sort=False):
        parts = list(dict.fromkeys(grp["part"]))
        keys = list(dict.fromkeys(grp["key"]))
        n_used = len(set(grp.loc[grp["status"] == "used", "key"]))
        lines.append(f"{aid or '(no analysis)'}: {n_used} of {len(keys)} rows used")
        for (key, status, reason, filt), g in grp.groupby(["key", "status", "reason", "filter"], sort=False):
            these = list(g["part"])
            part = "" if these == parts else f"[{', '.join(these)}] "
            if status == "used":
                lines.append(f"  {part}{key}: used")
            else:
                how = f" ({_step(filt)})" if filt else ""
                lines.append(f"  {part}{key}: {status}: {reason}{how}")
    return "\n".join(lines) + "\n"


def read_frames(directory, analyses) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """``<analysis>.csv`` and ``<analysis>.excluded.csv`` of every analysis in ``directory``.

    Ids and reasons are read as text; a missing or empty file gives an empty frame.
    """
    directory = Path(directory)

    def read(path):
        try:
            return pd.read_csv(path, dtype=_ID_COLUMNS, keep_default_na=False, na_values=[""])
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame()

    return {a: (read(directory / f"{a}.csv"), read(directory / f"{a}.excluded.csv")) for a in analyses}
