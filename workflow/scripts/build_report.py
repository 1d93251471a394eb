"""results/report.html: claims first, then every analysis, sensitivity, data gaps, references."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.evidence.prepared import read_copy
from ketameta.outputs.labels import readable_text
from ketameta.outputs.report import Section, build_report, provenance_list
from ketameta.synthesis.files import read_json
from ketameta.synthesis.living import change_items, update_status
from ketameta.synthesis.pipeline import methods_sentence, report_paragraphs
from ketameta.synthesis.registry import kind_of

if TYPE_CHECKING:
    from snakemake.script import snakemake


def _living_sections(inp, living):
    """'What changed since <version>' and the update status (trials expected, next search due)."""
    ch = read_json(inp["changes"])
    title = f"What changed since version {ch['since']}" if ch.get("since") else "What changed"
    # rows, cells and configuration keys by their names: a provenance list
    items = change_items(ch)
    changed = Section(title, paragraphs=[ch["summary"]], html=[provenance_list(items)] if items else [])
    log = read_copy(inp["search_log"]) if "search_log" in inp.keys() else pd.DataFrame()
    watch = read_copy(inp["watch"]) if "watch" in inp.keys() else pd.DataFrame()
    st = update_status(log, watch, living.get("search_interval_days", 180))
    paras = [f"Last search: {st['last_search'] or 'none recorded'}; next search due: {st['next_due'] or 'now'} "
             f"(every {living.get('search_interval_days', 180)} days). Registered trials still to report: "
             f"{len(st['expected'])}."]
    if st["warning"]:
        paras.insert(0, "Warning: " + st["warning"])
    update = Section("Next update: trials expected", paragraphs=paras,
                     items=st["expected"] or ["No registered trial is on the watch list."])
    return changed, update


def _analysis_section(aid, fit, entry, figs, tables, titles):
    """The report section of one analysis: sentences, methods, figure and table (reader terms)."""
    spec = {**entry, "id": aid}
    return Section(
        spec.get("title", aid),
        paragraphs=[readable_text(p, titles) for p in report_paragraphs(fit, spec)],
        methods=readable_text(methods_sentence(fit, spec), titles),
        figures=figs,
        tables=[Path(tables[aid])],
        status="ok" if fit.get("status") == "ok" else "failed",
        reason=fit.get("reason", ""),
    )


def main(inp, html_path, analyses, level, sources, living):
    fits = {Path(p).stem: read_json(p) for p in inp["fits"]}
    figures = {Path(p).stem: p for p in inp["figures"]}
    tables = {Path(p).stem: p for p in inp["tables"]}
    titles = {aid: spec.get("title", aid) for aid, spec in analyses.items()}
    changed, update = _living_sections(inp, living)
    sections = [changed,
                Section("Claims of the source article", tables=[Path(inp["claims"])],
                        paragraphs=["Each empirical claim of the source article beside what the "
                                    "synthesized data say, with k, a rule-based verdict and the GRADE "
                                    "certainty of the evidence behind it."])]
    rob_figures = [{"path": inp["rob_traffic"], "caption": "Risk of bias per trial (RoB 2; traffic-light plot)"},
                   {"path": inp["rob_summary"], "caption": "Risk of bias per domain (share of participants)"}]
    # certainty first (summary of findings with the risk-of-bias figures), then every analysis;
    # analyses of the analyses (multiverse) after the sensitivity table
    order = sorted(analyses, key=lambda a: kind_of(analyses[a]["type"]).report_order)
    after = [a for a in order if kind_of(analyses[a]["type"]).after_sensitivity]
    for aid in order:
        if aid in after:
            continue
        figs = [{"path": figures[aid], "caption": analyses[aid].get("title", aid)}] if aid in figures else []
        if kind_of(analyses[aid]["type"]).shows_risk_of_bias:
            figs, rob_figures = rob_figures, []  # once, beside the first summary of findings
        sections.append(_analysis_section(aid, fits[aid], analyses[aid], figs, tables, titles))
    sections.append(Section("Sensitivity analyses", tables=[Path(inp["sensitivity"])]))
    for aid in after:
        figs = [{"path": figures[aid], "caption": analyses[aid].get("title", aid)}] if aid in figures else []
        sections.append(_analysis_section(aid, fits[aid], analyses[aid], figs, tables, titles))
    sections.append(update)
    sections.append(Section("Studies and sources", tables=[Path(inp["studies"])],
                            figures=[{"path": inp["prisma"],
                                      "caption": "PRISMA 2020 flow of sources"}]))
    sections.append(Section("Data gaps", tables=[Path(inp["gaps"])],
                            paragraphs=["Numbers each analysis would need and the sources do "
                                        "not give; a reader with full-text access can add them."]))
    warn = pd.read_csv(inp["warnings"]) if Path(inp["warnings"]).stat().st_size else pd.DataFrame()
    failed = [f"{analyses.get(a, {}).get('title', a)}: {f['reason']}"
              for a, f in fits.items() if f.get("status") != "ok"]
    warnings = warn["warning"].astype(str).tolist() if "warning" in warn else []
    sections.append(Section("Input warnings and failed analyses",
                            items=failed or ([] if warnings else ["No warnings and no failed analyses."]),
                            html=[provenance_list(warnings)] if warnings else []))
    sections.append(Section("References", html=[Path(inp["references"]).read_text("utf-8")]))
    build_report(sections, "Ketamine for depression: a living evidence synthesis", html_path,
                 subtitle="Dissociation and response; durability of a single infusion; "
                          "infusion vs ketamine-assisted psychotherapy",
                 meta={"Confidence level": f"{level:g}%",
                       "Built from": ", ".join(sources)})


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output.html, snakemake.params.analyses,
         snakemake.params.level, snakemake.params.sources, snakemake.params.living)
