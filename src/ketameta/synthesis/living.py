"""A living review: versions of the results, and what changed since the latest one.

Living systematic reviews publish each version with a version number, what triggered it and what
changed in methods and results since the preceding version, and keep every earlier version
(Elliott et al. 2017, J Clin Epidemiol 91:23; PRISMA-LSR, Akl et al. 2024, BMJ 387:e079183).
Here a *release* freezes the headline numbers of one run with the inputs that produced them; each
run then compares itself with the latest release:

* **inputs** -- studies, effect rows and risk-of-bias rows added, removed or edited (a row-level
  diff naming the changed cells), and changes to the configuration (methods);
* **results** -- each headline estimate before -> after with the change in k and participants,
  intervals that newly exclude or include no effect, verdicts and certainty ratings that changed,
  data gaps closed or opened.

Functions here take and return plain data and paths given by the caller; the workflow decides
where releases and results live.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml

from ..io import atomic_write

__all__ = ["inputs_digest", "release_id", "find_release", "latest_release", "headline_rows",
           "certainty_rows", "freeze_release", "compare", "changes_markdown", "change_items",
           "update_status", "RELEASE_FILES"]

#: what a release keeps (name in the release folder -> what it is)
RELEASE_FILES = {
    "values.json": "the in-text values (LaTeX macro names)",
    "headlines.json": "every headline estimate with k and participants",
    "claims.csv": "the claims table (verdicts, certainty)",
    "certainty.json": "the GRADE rating of every summary-of-findings window",
    "data_gaps.csv": "the data-gaps table",
    "config.yaml": "the configuration (methods)",
    "evidence": "the evidence sheets the run read (folder)",
}
#: keys of the rows of each evidence sheet (for the row-level diff)
SHEET_KEYS = {"studies.csv": ["study_id"], "effects.csv": ["effect_id"],
              "rob.csv": ["study_id", "outcome", "domain"], "screening.csv": ["record_id"],
              "search_log.csv": ["search_id"], "watch.csv": ["registry_id"]}


# ---- versions ----------------------------------------------------------------------------------
def inputs_digest(files: Mapping[str, str | Path], config_path: str | Path, version: str) -> str:
    """SHA-256 over the evidence files, the configuration and the software version."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(Path(files[name]).read_bytes())
    h.update(Path(config_path).read_bytes())
    h.update(version.encode())
    return h.hexdigest()


def release_id(digest: str, date: str | None = None) -> str:
    """Version id: the date and a short hash of the inputs, e.g. ``2026-12-04-1a2b3c4d``."""
    return f"{date or _dt.date.today().isoformat()}-{digest[:8]}"


def _records(releases_dir) -> list[dict]:
    out = []
    for p in sorted(Path(releases_dir).glob("*/release.json")):
        rec = json.loads(p.read_text(encoding="utf-8"))
        rec["path"] = str(p.parent)
        out.append(rec)
    return sorted(out, key=lambda r: (r.get("released", ""), r.get("version", "")))


def find_release(releases_dir, digest: str) -> Path | None:
    """The release made from exactly these inputs, if any (a second release is then not made)."""
    for rec in _records(releases_dir):
        if rec.get("inputs_digest") == digest:
            return Path(rec["path"])
    return None


def latest_release(releases_dir) -> Path | None:
    """The most recent release folder (None before the first release)."""
    recs = _records(releases_dir)
    return Path(recs[-1]["path"]) if recs else None


# ---- what a release holds ---------------------------------------------------------------------------
def headline_rows(fits: Mapping[str, dict]) -> list[dict]:
    """Every headline estimate of every fitted analysis (analysis, name, estimate, CI, k, n)."""
    from .registry import kind_of

    rows = []
    for aid in sorted(fits):
        f = fits[aid]
        if f.get("status") != "ok":
            rows.append({"analysis": aid, "estimate_name": "(analysis)", "status": "failed",
                         "k": 0, "estimate": None, "ci_lb": None, "ci_ub": None})
            continue
        for h in kind_of(f).headlines(f):
            rows.append({"analysis": aid, **{k: h.get(k) for k in
                                              ("estimate_name", "estimate", "ci_lb", "ci_ub", "k",
                                               "participants", "scale", "status")}})
    return rows


def certainty_rows(fits: Mapping[str, dict]) -> list[dict]:
    """The GRADE rating of every summary-of-findings window (table, analysis, window, rating)."""
    rows = []
    for aid in sorted(fits):
        f = fits[aid]
        if f.get("type") != "sof" or f.get("status") != "ok":
            continue
        for r in f.get("rows", []):
            if r.get("certainty"):
                rows.append({"table": aid, "analysis": r["analysis"], "window": r["window"],
                             "certainty": r["certainty"], "k": r.get("k")})
    return rows


def freeze_release(out_dir, record: dict, files: Mapping[str, str | Path],
                   evidence: Mapping[str, str | Path]) -> dict:
    """Write one release: ``release.json`` (the record), the files named in :data:`RELEASE_FILES`
    and a copy of the evidence sheets. Refuses to overwrite an existing release.
    """
    out = Path(out_dir)
    if (out / "release.json").exists():
        raise FileExistsError(f"{out} is already a release; releases are never overwritten")
    out.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        shutil.copyfile(src, out / name)
    (out / "evidence").mkdir(exist_ok=True)
    for name, src in evidence.items():
        shutil.copyfile(src, out / "evidence" / Path(src).name)
    with atomic_write(out / "release.json") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return record


# ---- comparison --------------------------------------------------------------------------------
def _short(v, width=60):
    s = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
    return s if len(s) <= width else s[: width - 1] + "\u2026"


def _sheet_diff(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> dict:
    """Rows added, removed and edited (with the changed cells) between two versions of a sheet."""
    def keyed(df):
        df = df.astype(str).replace({"nan": ""})
        return df.set_index(keys, drop=False)

    o, n = keyed(old), keyed(new)
    added = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in n.index.difference(o.index)]
    removed = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in o.index.difference(n.index)]
    edited = []
    for k in n.index.intersection(o.index):
        a, b = o.loc[k], n.loc[k]
        if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
            continue  # duplicate keys are reported by the validator, not here
        cols = [c for c in n.columns if c in o.columns and a[c] != b[c]]
        cols += [c for c in n.columns if c not in o.columns and b[c] != ""]
        if cols:
            edited.append({"row": " / ".join(map(str, k)) if isinstance(k, tuple) else str(k),
                           "cells": [{"column": c, "before": _short(a.get(c, "")), "after": _short(b[c])}
                                     for c in cols]})
    return {"added": sorted(added), "removed": sorted(removed), "edited": edited}


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, Mapping):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = d
    return out


def _config_diff(old: dict, new: dict) -> list[dict]:
    a, b = _flat(old), _flat(new)
    return [{"key": k, "before": _short(json.dumps(a.get(k), default=str), 80) if k in a else "(absent)",
             "after": _short(json.dumps(b.get(k), default=str), 80) if k in b else "(absent)"}
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _excludes_null(r) -> bool | None:
    lo, hi = r.get("ci_lb"), r.get("ci_ub")
    scale = str(r.get("scale") or "")
    if lo is None or hi is None or "day" in scale or "proportion" in scale:
        return None
    null = 1.0 if scale == "OR" and lo > 0 else 0.0
    return bool(lo > null or hi < null)


def _estimates(old: list[dict], new: list[dict]) -> list[dict]:
    key = lambda r: (r["analysis"], r.get("estimate_name"))  # noqa: E731
    o, n = {key(r): r for r in old}, {key(r): r for r in new}
    out = []
    for k in sorted(set(o) | set(n), key=lambda t: (t[0], str(t[1]))):
        a, b = o.get(k, {}), n.get(k, {})
        same = all(_close(a.get(f), b.get(f)) for f in ("estimate", "ci_lb", "ci_ub", "k", "participants"))
        if same:
            continue
        ea, eb = _excludes_null(a), _excludes_null(b)
        flip = None
        if ea is not None and eb is not None and ea != eb:
            flip = "now excludes no effect" if eb else "now includes no effect"
        out.append({"analysis": k[0], "estimate_name": k[1], "scale": b.get("scale", a.get("scale")),
                    "before": {f: a.get(f) for f in ("estimate", "ci_lb", "ci_ub", "k", "participants")},
                    "after": {f: b.get(f) for f in ("estimate", "ci_lb", "ci_ub", "k", "participants")},
                    "delta_k": (b.get("k") or 0) - (a.get("k") or 0),
                    "delta_participants": _delta(a.get("participants"), b.get("participants")),
                    "null": flip, "new": not a, "gone": not b})
    return out


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
        return a == b


def _delta(a, b):
    if a is None or b is None:
        return None
    return float(b) - float(a)


def _keyed_changes(old: list[dict], new: list[dict], key, field) -> list[dict]:
    o, n = {key(r): r.get(field) for r in old}, {key(r): r.get(field) for r in new}
    return [{"item": " / ".join(map(str, k)), "before": o.get(k, "(absent)"), "after": n.get(k, "(absent)")}
            for k in sorted(set(o) | set(n), key=str) if o.get(k) != n.get(k)]


def compare(previous: Path | None, current: Mapping[str, str | Path]) -> dict:
    """What changed between a release folder and the current run.

    ``current`` names the current run's files by the keys of :data:`RELEASE_FILES`
    (``headlines.json``, ``claims.csv``, ``certainty.json``, ``data_gaps.csv``, ``config.yaml``)
    and the evidence sheets by file name (``studies.csv``, ``effects.csv``, ...). Returns a
    JSON-ready record; ``changed`` is False when nothing differs.
    """
    if previous is None:
        return {"since": None, "changed": None, "summary": "First version: no earlier release to compare with."}
    prev = Path(previous)
    rec = json.loads((prev / "release.json").read_text(encoding="utf-8"))
    out = {"since": rec["version"], "released": rec.get("released"), "sheets": {}}
    for name, keys in SHEET_KEYS.items():
        old_p, new_p = prev / "evidence" / name, current.get(name)
        if not old_p.exists() or new_p is None or not Path(new_p).exists():
            continue
        d = _sheet_diff(pd.read_csv(old_p, dtype=str, keep_default_na=False),
                        pd.read_csv(new_p, dtype=str, keep_default_na=False), keys)
        if d["added"] or d["removed"] or d["edited"]:
            out["sheets"][name] = d
    load_yaml = lambda p: yaml.safe_load(Path(p).read_text(encoding="utf-8"))  # noqa: E731
    out["methods"] = _config_diff(load_yaml(prev / "config.yaml"), load_yaml(current["config.yaml"]))
    load_json = lambda p: json.loads(Path(p).read_text(encoding="utf-8"))  # noqa: E731
    out["estimates"] = _estimates(load_json(prev / "headlines.json"), load_json(current["headlines.json"]))
    oc = pd.read_csv(prev / "claims.csv", dtype=str, keep_default_na=False).to_dict("records")
    nc = pd.read_csv(current["claims.csv"], dtype=str, keep_default_na=False).to_dict("records")
    ckey = lambda r: (r.get("id") or r.get("claim"),)  # noqa: E731
    out["verdicts"] = _keyed_changes(oc, nc, ckey, "verdict")
    out["claim_certainty"] = _keyed_changes(oc, nc, ckey, "certainty")
    out["certainty"] = _keyed_changes(load_json(prev / "certainty.json"), load_json(current["certainty.json"]),
                                      lambda r: (r["table"], r["analysis"], r["window"]), "certainty")
    og = pd.read_csv(prev / "data_gaps.csv", dtype=str, keep_default_na=False)
    ng = pd.read_csv(current["data_gaps.csv"], dtype=str, keep_default_na=False)
    gkey = lambda df: set(zip(df.get("study_id", []), df.get("effect_id", []), df.get("item", [])))  # noqa: E731
    out["gaps_closed"] = sorted(" / ".join(k) for k in gkey(og) - gkey(ng))
    out["gaps_opened"] = sorted(" / ".join(k) for k in gkey(ng) - gkey(og))
    parts = [bool(out["sheets"]), bool(out["methods"]), bool(out["estimates"]), bool(out["verdicts"]),
             bool(out["certainty"]), bool(out["claim_certainty"]), bool(out["gaps_closed"]),
             bool(out["gaps_opened"])]
    out["changed"] = any(parts)
    out["summary"] = (_summary(out) if out["changed"] else
                      f"No change since version {rec['version']}: same data, methods and results.")
    return out


def _summary(ch) -> str:
    s = ch["sheets"]
    studies = s.get("studies.csv", {})
    effects = s.get("effects.csv", {})
    bits = []
    if studies.get("added"):
        bits.append(f"{len(studies['added'])} stud{'y' if len(studies['added']) == 1 else 'ies'} added "
                    f"({', '.join(studies['added'])})")
    if effects:
        bits.append(f"effect rows: {len(effects['added'])} added, {len(effects['removed'])} removed, "
                    f"{len(effects['edited'])} edited")
    if ch["methods"]:
        bits.append(f"{len(ch['methods'])} configuration setting(s) changed")
    if ch["estimates"]:
        bits.append(f"{len(ch['estimates'])} headline estimate(s) moved")
    if ch["verdicts"]:
        bits.append(f"{len(ch['verdicts'])} verdict(s) changed")
    if ch["certainty"] or ch["claim_certainty"]:
        bits.append(f"{len(ch['certainty']) + len(ch['claim_certainty'])} certainty rating(s) changed")
    if ch["gaps_closed"] or ch["gaps_opened"]:
        bits.append(f"data gaps: {len(ch['gaps_closed'])} closed, {len(ch['gaps_opened'])} opened")
    return f"Since version {ch['since']}: " + "; ".join(bits) + "."


def _num(x, d=2):
    return "NA" if x is None else f"{float(x):.{d}f}"


def _blocks(ch: dict) -> list[tuple[str, list[str]]]:
    """The comparison as (heading, lines) blocks, shared by the Markdown and the report."""
    blocks = []
    for name, d in ch.get("sheets", {}).items():
        lines = []
        if d["added"]:
            lines.append("added: " + ", ".join(d["added"]))
        if d["removed"]:
            lines.append("removed: " + ", ".join(d["removed"]))
        for e in d["edited"]:
            cells = "; ".join(f"{c['column']}: '{c['before']}' -> '{c['after']}'" for c in e["cells"])
            lines.append(f"edited {e['row']}: {cells}")
        blocks.append((f"Data: {name}", lines))
    if ch.get("methods"):
        blocks.append(("Methods (configuration)", [f"{m['key']}: {m['before']} -> {m['after']}"
                                                   for m in ch["methods"]]))
    if ch.get("estimates"):
        lines = []
        for e in ch["estimates"]:
            a, b = e["before"], e["after"]
            dk = f"; k {a['k'] or 0} -> {b['k'] or 0}" if e["delta_k"] else ""
            dn = (f"; participants {_num(a['participants'], 0)} -> {_num(b['participants'], 0)}"
                  if e["delta_participants"] else "")
            lines.append(f"{e['analysis']}, {e['estimate_name']}: {_num(a['estimate'])} [{_num(a['ci_lb'])}, "
                         f"{_num(a['ci_ub'])}] -> {_num(b['estimate'])} [{_num(b['ci_lb'])}, {_num(b['ci_ub'])}]"
                         f"{dk}{dn}{(' (' + e['null'] + ')') if e['null'] else ''}")
        blocks.append(("Headline estimates (before -> after)", lines))
    for title, key in (("Verdicts", "verdicts"), ("Certainty of the claims", "claim_certainty"),
                       ("Certainty (GRADE)", "certainty")):
        if ch.get(key):
            blocks.append((title, [f"{c['item']}: {c['before']} -> {c['after']}" for c in ch[key]]))
    if ch.get("gaps_closed") or ch.get("gaps_opened"):
        blocks.append(("Data gaps", [f"closed: {g}" for g in ch["gaps_closed"]] +
                       [f"opened: {g}" for g in ch["gaps_opened"]]))
    return blocks


def change_items(ch: dict) -> list[str]:
    """The comparison as plain-text list items (``heading -- line``) for the report."""
    return [f"{head} -- {line}" for head, lines in _blocks(ch) for line in lines]


def changes_markdown(ch: dict) -> str:
    """The comparison as Markdown."""
    lines = [f"# What changed{(' since ' + ch['since']) if ch.get('since') else ''}", "", ch["summary"], ""]
    for head, items in _blocks(ch) if ch.get("changed") else []:
        lines += [f"## {head}", *[f"- {x}" for x in items], ""]
    return "\n".join(lines).rstrip() + "\n"


def update_status(search_log: pd.DataFrame, watch: pd.DataFrame, interval_days: int,
                  today: _dt.date | None = None) -> dict:
    """When the evidence was last searched, when the next search is due, and the trials expected.

    Returns ``last_search`` (ISO date or None), ``next_due``, ``stale`` (the interval has passed),
    ``warning`` (a sentence, or None) and ``expected`` (one line per watched trial).
    """
    today = today or _dt.date.today()
    dates = pd.to_datetime(search_log.get("date", pd.Series(dtype=str)), errors="coerce").dropna()
    last = dates.max().date() if len(dates) else None
    due = last + _dt.timedelta(days=int(interval_days)) if last else None
    stale = last is None or today > due
    warning = None
    if last is None:
        warning = "No search is recorded in the search log: the evidence base has no search date."
    elif stale:
        warning = (f"The last search was on {last.isoformat()}, more than {interval_days} days ago "
                   f"(next search was due on {due.isoformat()}): the evidence may be out of date.")
    expected = []
    for r in watch.to_dict("records") if len(watch) else []:
        bits = [str(r.get(c, "")).strip() for c in ("registry_id", "title")]
        extra = ", ".join(f"{c.replace('_', ' ')}: {r[c]}" for c in ("status", "expected_completion")
                          if str(r.get(c, "")).strip() not in ("", "nan"))
        expected.append(" -- ".join(b for b in bits if b) + (f" ({extra})" if extra else ""))
    return {"last_search": last.isoformat() if last else None, "next_due": due.isoformat() if due else None,
            "stale": bool(stale), "warning": warning, "expected": expected}
