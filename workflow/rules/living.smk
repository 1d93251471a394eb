# Living review: the headline numbers of each run, a comparison with the latest release
# (results/changes.*), and `make release`, which freezes the current results under releases/.


rule summarise_headlines:
    """Collect every headline estimate (k, participants) and every GRADE rating of the run."""
    input:
        fits=all_fits,
    output:
        headlines="results/living/headlines.json",
        certainty="results/living/certainty.json",
    log:
        "results/logs/summarise_headlines/summarise_headlines.log",
    script:
        "../scripts/summarise_headlines.py"


rule compare_release:
    """Say what changed since the latest release: data rows, methods, estimates, verdicts, gaps."""
    input:
        unpack(previous_release),
        **evidence_inputs(),
        headlines="results/living/headlines.json",
        certainty="results/living/certainty.json",
        claims="results/tables/claims.csv",
        gaps="results/tables/data_gaps.csv",
        config=local(CONFIG_FILE),
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        md="results/changes.md",
        html="results/changes.html",
        json="results/changes.json",
    log:
        "results/logs/compare_release/compare_release.log",
    script:
        "../scripts/compare_release.py"


rule freeze_release:
    """Freeze the current results as one version (only through `make release`; never overwritten)."""
    input:
        **evidence_inputs(),
        headlines="results/living/headlines.json",
        certainty="results/living/certainty.json",
        claims="results/tables/claims.csv",
        gaps="results/tables/data_gaps.csv",
        values="results/values/values.json",
        config=local(CONFIG_FILE),
    output:
        release=local(directory(f"{RELEASES}/{{version}}")),
    log:
        "results/logs/freeze_release/{version}.log",
    params:
        digest=INPUTS_DIGEST,
    script:
        "../scripts/freeze_release.py"


rule summarise_run:
    """Summarise the run: per analysis k, rows not used by reason, new rows not used."""
    input:
        effect_sizes=expand("results/effect_sizes/{a}.csv", a=ANALYSES),
        excluded=expand("results/effect_sizes/{a}.excluded.csv", a=ANALYSES),
        headlines="results/living/headlines.json",
        # the last job of a run: the summary ends with the path of the report
        report="results/report.html",
    output:
        md="results/run_summary.md",
        json="results/run_summary.json",
        txt="results/run_summary.txt",
    log:
        "results/logs/summarise_run/summarise_run.log",
    params:
        analyses=ANALYSES,
        titles={a: config["analyses"][a].get("title", a) for a in ANALYSES},
        # the previous run's summary (kept by this job; not an output, see the script)
        state="results/living/run_summary.previous.json",
    script:
        "../scripts/summarise_run.py"
