"""`snakemake --lint` reports nothing but the per-rule conda/container advice.

The workflow runs in the project environment (.venv from `make`, or environment.yml for conda
users), so per-rule `conda:` directives are deliberately absent (see
../shared/reference/style-anchors.md 6.1); every other lint is a failure.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "Specify a conda environment or container for each rule."


@pytest.mark.workflow
def test_snakemake_lint_only_conda_advice():
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    proc = subprocess.run([snakemake, "--lint"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    text = proc.stdout + proc.stderr
    lints = re.findall(r"^\s+\* (.+?):?$", text, re.M)
    assert lints, f"no lint output parsed:\n{text[-2000:]}"
    others = sorted({x for x in lints if not x.startswith(ALLOWED)})
    assert not others, f"unexpected lints: {others}"
    rules = re.findall(r"^Lints for rule (\w+)", text, re.M)
    assert len(rules) == len(lints)


@pytest.mark.workflow
def test_every_rule_has_log_docstring_and_named_io():
    text = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    blocks = re.split(r"^rule ", text, flags=re.M)[1:]
    assert len(blocks) >= 12
    for b in blocks:
        name = b.split(":")[0]
        assert re.match(r"^[a-z]+_[a-z_]+$", name), f"rule {name} is not verb_object"
        assert '"""' in b.split("input:")[0], f"rule {name} has no docstring"
        assert "log:" in b, f"rule {name} has no log"
        for section in ("input:", "output:"):
            if section == "input:" and section not in b.split("output:")[0]:
                # a rule without input files records a fingerprint passed as params
                assert "params:" in b, f"rule {name} has neither input nor params"
                continue
            body = b.split(section)[1].split(":\n")[0]
            # named: key=value, or **f() where f returns a dict of named files
            assert re.search(r"^\s+(\w+=|\*\*\w+(\(|,))", body, re.M), f"rule {name}: unnamed {section}"


def _tool(name):
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed in the project environment (requirements.lock)")
    return str(path)


def test_ruff_with_pydocstyle_passes():
    """ruff (pyflakes, pycodestyle, isort, numpydoc-style docstrings): see pyproject.toml."""
    proc = subprocess.run([_tool("ruff"), "check", "src", "workflow/scripts", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_snakefmt_leaves_the_workflow_unchanged():
    proc = subprocess.run([_tool("snakefmt"), "--check", "Snakefile", "workflow/rules"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
