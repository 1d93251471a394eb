# ketameta: `make run` builds every result into results/ and ends with the run summary;
# `make test` runs the tests; `make explain STUDY=<id>` shows where one study's rows went.
# Both create .venv (python3 -m venv) and install the pinned environment on first use,
# and reinstall only when pyproject.toml or requirements.lock change.
# Cluster execution (profiles/) needs the optional plugins: `make cluster-env` adds them to .venv
# from requirements-cluster.lock; nothing else installs them.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CLUSTER_STAMP := $(VENV)/.installed-cluster
CORES  ?= all
# pytest workers for `make test` (pytest-xdist; test files are kept whole on one worker, so a
# module's workflow run is made once); TEST_WORKERS=0 runs in one process
TEST_WORKERS ?= 2
# Snakemake's progress without the per-job blocks (rule, files, reason): they stay in the log
# under .snakemake/log/ and in results/logs/.
QUIET  := --quiet host rules reason

.PHONY: run release explain docs test lint dryrun report bench lock cluster-env test-cluster lock-cluster clean help digests

help:
	@echo "make run    - build all tables, figures, values and results/report.html"
	@echo "make release - freeze the current results as a version under releases/ (once per set of inputs)"
	@echo "make explain STUDY=<study_id> - where each row of one study went: used, or the reason and filter"
	@echo "make docs   - regenerate the table of analysis filters in data/README.md (from config/config.yaml)"
	@echo "              and the configuration reference docs/config.md (from the config schema)"
	@echo "make test   - run the test suite (library, data, workflow end to end)"
	@echo "make lint   - ruff (with pydocstyle), snakefmt --check, snakemake --lint"
	@echo "make dryrun - show which Snakemake jobs would run"
	@echo "make bench  - run benchmarks/ (speed, side by side with metafor/PyMARE if installed)"
	@echo "make digests - record the fingerprints of every output (tests/workflow/output_digests.txt)"
	@echo "make cluster-env  - add the SLURM, Kubernetes and S3 plugins to .venv (requirements-cluster.lock),"
	@echo "                    then e.g. .venv/bin/snakemake --profile profiles/slurm (README: Running on a cluster)"
	@echo "make test-cluster - make cluster-env, then only the cluster profile tests"
	@echo "make clean  - remove results/ (keeps results/README.md) and .snakemake/"

# pip's output goes to $(VENV)/install.log; on failure its end is shown.
$(STAMP): pyproject.toml requirements.lock
	@echo "installing the pinned environment (first run only)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock \
	   && $(BIN)/python -m pip install --disable-pip-version-check --no-deps -e . ; } \
	   > $(VENV)/install.log 2>&1 \
	   || { tail -n 25 $(VENV)/install.log; echo "installation failed (full log: $(VENV)/install.log)"; exit 1; }
	@touch $(STAMP)

# The cluster lock holds the pins of requirements.lock plus the plugins and their dependencies,
# except python-dateutil (botocore, needed by the S3 plugin, requires < 3).
$(CLUSTER_STAMP): $(STAMP) requirements-cluster.lock
	@echo "installing the cluster plugins..."
	@$(BIN)/python -m pip install --disable-pip-version-check -r requirements-cluster.lock \
	   > $(VENV)/install-cluster.log 2>&1 \
	   || { tail -n 25 $(VENV)/install-cluster.log; echo "installation failed (full log: $(VENV)/install-cluster.log)"; exit 1; }
	@touch $(CLUSTER_STAMP)

cluster-env: $(CLUSTER_STAMP)

test-cluster: $(CLUSTER_STAMP)
	KETAMETA_REQUIRE_CLUSTER=1 $(BIN)/python -m pytest tests/workflow/test_cluster.py

# ends with the run summary (results/run_summary.txt): per analysis k and the rows not used by
# reason, the rows not used that are new since the previous run, the headline estimates, the report
run: $(STAMP)
	@$(BIN)/snakemake --cores $(CORES) $(QUIET)
	@echo
	@cat results/run_summary.txt

release: run
	@$(BIN)/snakemake --cores $(CORES) $(QUIET) release

# brings the results up to date first, so the rows shown are those of the current data
explain: $(STAMP)
	@test -n "$(STUDY)" || { echo "usage: make explain STUDY=<study_id> (a study_id of data/studies.csv)"; exit 2; }
	@$(BIN)/snakemake --cores $(CORES) $(QUIET)
	@echo
	@$(BIN)/python -m ketameta.synthesis.explain $(STUDY) --effect-sizes results/effect_sizes \
	   --effects results/evidence/effects.csv --config config/config.yaml

docs: $(STAMP)
	@$(BIN)/python -m ketameta.synthesis.guide --config config/config.yaml --readme data/README.md
	@$(BIN)/python -m ketameta.synthesis.configdoc --schema workflow/schemas/config.schema.yaml --out docs/config.md

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src workflow/scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	-$(BIN)/snakemake --lint
	$(BIN)/python -m pytest -q tests/workflow/test_lint.py

dryrun: $(STAMP)
	$(BIN)/snakemake -n --cores $(CORES)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report results/snakemake_report.html

digests: run  ## record the fingerprints of every output (commit with changes meant to move results)
	$(BIN)/python -m tests.workflow.digests results > tests/workflow/output_digests.txt

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet -e '.[test]' \
	  && { head -2 requirements.lock; .lockenv/bin/pip freeze --exclude-editable | grep -vi '^ketameta'; } > requirements.lock.new \
	  && mv requirements.lock.new requirements.lock && rm -rf .lockenv

lock-cluster:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv \
	  && grep -v -e '^#' -e '^python-dateutil==' requirements.lock > .lockenv/constraints.txt \
	  && .lockenv/bin/pip install --quiet -c .lockenv/constraints.txt -e '.[test,cluster]' \
	  && { head -3 requirements-cluster.lock; .lockenv/bin/pip freeze --exclude-editable | grep -vi '^ketameta'; } > requirements-cluster.lock.new \
	  && mv requirements-cluster.lock.new requirements-cluster.lock && rm -rf .lockenv

clean:
	find results -mindepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .snakemake
