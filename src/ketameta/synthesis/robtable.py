"""The risk-of-bias sheet as the wide table the robvis-style figures draw (one row per trial)."""

from __future__ import annotations

import pandas as pd

from ..evidence.review import ROB_DOMAINS, rob_overall

__all__ = ["rob_table", "rob_by_study"]


def rob_table(ev, cit, outcome: str = "depression_severity", weight: str = "participants"):
    """Trials assessed for ``outcome``: label, one column per domain, ``overall``; and their weights.

    ``weight="participants"`` weighs each trial by its n (study sheet); ``"equal"`` by 1. Returns
    ``(table, weights)``; the table is sorted by the author-year label.
    """
    rob = ev.rob if ev.rob is not None else pd.DataFrame()
    rob = rob[rob["outcome"] == outcome] if len(rob) else rob
    if not len(rob):
        return pd.DataFrame(columns=["study", *ROB_DOMAINS, "overall"]), {}
    wide = rob_overall(rob)
    keys = ev.studies["citation_key"]
    wide.insert(0, "study", [cit.label(keys[s]) if s in keys.index and keys[s] in cit else s for s in wide["study_id"]])
    used = [d for d in ROB_DOMAINS if wide[d].notna().any()]
    table = wide[["study", "study_id", *used, "overall"]].sort_values("study").reset_index(drop=True)
    if weight == "participants":
        n = ev.studies["n"]
        weights = {r.study: float(n.get(r.study_id, 0.0) or 0.0) for r in table.itertuples()}
    else:
        weights = {s: 1.0 for s in table["study"]}
    return table, weights


def rob_by_study(ev, outcome: str = "depression_severity") -> pd.DataFrame:
    """Per assessed trial (index ``study_id``): the judgement of each domain used, and ``overall``.

    The columns forest plots draw at their right edge (empty when the sheet has no assessment).
    """
    rob = ev.rob if ev.rob is not None else pd.DataFrame()
    rob = rob[rob["outcome"] == outcome] if len(rob) else rob
    if not len(rob):
        return pd.DataFrame(columns=["overall"], index=pd.Index([], name="study_id"))
    wide = rob_overall(rob)
    used = [d for d in ROB_DOMAINS if wide[d].notna().any()]
    return wide.set_index("study_id")[[*used, "overall"]]
