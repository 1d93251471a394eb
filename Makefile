# ketameta: `make run` builds every result into results/; `make test` runs the tests.
# Both create .venv (python3 -m venv) and install the pinned environment on first use,
# and reinstall only when pyproject.toml or requirements.lock change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: run test lint dryrun report bench lock clean help digests

help:
	@echo "make run    - build all tables, figures, values and results/report.html"
	@echo "make test   - run the test suite (library, data, workflow end to end)"
	@echo "make lint   - ruff (with pydocstyle), snakefmt --check, snakemake --lint"
	@echo "make dryrun - show which Snakemake jobs would run"
	@echo "make bench  - run benchmarks/ (speed, side by side with metafor/PyMARE if installed)"
	@echo "make digests - record the fingerprints of every output (tests/workflow/output_digests.txt)"
	@echo "make clean  - remove results/ (keeps results/README.md) and .snakemake/"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest

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

clean:
	find results -mindepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .snakemake
