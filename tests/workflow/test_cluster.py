"""Cluster execution: profiles/slurm and profiles/kubernetes (README "Running on a cluster").

Without the optional plugins (``make cluster-env`` installs requirements-cluster.lock into
.venv) the tests that run Snakemake with a profile are skipped, each saying which plugin is
missing; the lock-file and profile checks run everywhere. ``.ci/run`` runs ``make test-cluster``
after ``make test``: it installs the plugins and sets KETAMETA_REQUIRE_CLUSTER=1, under which a
missing plugin fails these tests instead of skipping them, so CI runs all of them.

No cluster, bucket or network is needed:

* SLURM: the plugin's commands (sbatch, sinfo, scontrol, sacctmgr, sacct, ...) are stand-ins
  (tests/workflow/fake_slurm.py) first on PATH; sbatch records its arguments and runs nothing,
  so Snakemake stops at the first status check (the outputs are missing);
* Kubernetes: a dry run needs no cluster, but Snakemake asks the S3 storage for every file even
  then, so an in-memory S3 service on 127.0.0.1 (tests/workflow/fake_s3.py) answers, with dummy
  credentials; the same service carries a real run of a few jobs (local executor in place of
  pods) through the profile's storage settings.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
from pathlib import Path
from unittest import mock

import pytest
import yaml

from ketameta.synthesis.workflow import chunked_analyses

from . import fake_slurm, tiny
from .conftest import ROOT, SNAKEMAKE, copy_project
from .fake_s3 import FakeS3

pytestmark = pytest.mark.workflow

SLURM_PROFILE = ROOT / "profiles" / "slurm"
K8S_PROFILE = ROOT / "profiles" / "kubernetes"
BUCKET = "ketameta-test"
PLUGINS = {
    "slurm": "snakemake_executor_plugin_slurm",
    "kubernetes": "snakemake_executor_plugin_kubernetes",
    "s3": "snakemake_storage_plugin_s3",
}
#: environment variables the profiles read; cleared so the tests see the committed defaults
PROFILE_ENV = ("KETAMETA_SLURM_ACCOUNT", "KETAMETA_SLURM_PARTITION",
               "KETAMETA_SLURM_PARTITION_MODELS", "KETAMETA_S3_BUCKET",
               "KETAMETA_CONTAINER_IMAGE", "KETAMETA_K8S_NAMESPACE", "SNAKEMAKE_PROFILE",
               "SNAKEMAKE_SLURM_PARTITIONS")


def _requires(*names):
    """Skip (or, with KETAMETA_REQUIRE_CLUSTER=1 as in `make test-cluster`, fail) without the
    named plugins."""
    missing = [PLUGINS[n].replace("_", "-") for n in names
               if importlib.util.find_spec(PLUGINS[n]) is None]
    reason = (f"{', '.join(missing)} not installed in this environment (optional; "
              "`make cluster-env` or `make test-cluster` adds requirements-cluster.lock to .venv)")
    if missing and os.environ.get("KETAMETA_REQUIRE_CLUSTER") == "1":
        def fail(test):
            @functools.wraps(test)
            def wrapper(*args, **kwargs):
                pytest.fail(f"KETAMETA_REQUIRE_CLUSTER=1 but {reason}")
            return wrapper
        return fail
    return pytest.mark.skipif(bool(missing), reason=reason)


def _lock(path) -> dict[str, str]:
    pins = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _profile(path, env) -> dict:
    """The profile as Snakemake reads it (YTE template evaluated with ``env``)."""
    import yte

    with mock.patch.dict(os.environ, env, clear=True), \
            open(path / "config.yaml", encoding="utf-8") as fh:
        return yte.process_yaml(fh, require_use_yte=True)


def _resources(profile: dict, rule: str) -> dict:
    return {**profile["default-resources"], **profile.get("set-resources", {}).get(rule, {})}


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_ENV}
    env["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra)
    return env


def _snakemake(workdir, *args, env, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(SNAKEMAKE), *map(str, args)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _tiny_copy(path) -> Path:
    root = copy_project(path)
    tiny.build(root / "data")
    return root


def _analyses(root) -> dict:
    """The analyses configured in the copy (one fit_model job each)."""
    with open(root / "config" / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)["analyses"]


def _chunks(root) -> dict:
    """The chunked analyses of the copy's config and their numbers of chunks (jobs)."""
    with open(root / "config" / "config.yaml", encoding="utf-8") as fh:
        return chunked_analyses(yaml.safe_load(fh))


def _jobs(text: str) -> dict[str, int]:
    block = re.search(r"Job stats:\n(.*?)\n\n", text, re.S)
    assert block, text[-3000:]
    return {p[0]: int(p[1]) for p in (ln.split() for ln in block.group(1).splitlines()[2:])
            if len(p) == 2 and p[1].isdigit() and p[0] != "total"}


def _planned_resources(text: str) -> dict[str, list[dict]]:
    """rule -> the resources of each of its jobs, from the job blocks of a dry run."""
    out: dict[str, list[dict]] = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", text):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and res:
            pairs = (kv.split("=", 1) for kv in res.group(1).split(", ") if "=" in kv)
            out.setdefault(rule.group(1), []).append(dict(pairs))
    return out


# -- always: lock files, pins and profile hygiene ---------------------------------------------

def test_cluster_lock_keeps_the_default_pins():
    """requirements-cluster.lock = requirements.lock + the plugins' closure (one documented
    exception: python-dateutil, which botocore caps below 3)."""
    base, cluster = _lock(ROOT / "requirements.lock"), _lock(ROOT / "requirements-cluster.lock")
    differ = {n: (base[n], cluster[n]) for n in base.keys() & cluster.keys()
              if base[n] != cluster[n]}
    assert set(differ) <= {"python-dateutil"}, differ
    assert cluster["python-dateutil"].startswith("2.")
    # only tzdata (a dependency of python-dateutil 4) may be absent from the cluster closure
    assert set(base) - set(cluster) <= {"tzdata"}, set(base) - set(cluster)


def test_cluster_extra_is_pinned_and_locked():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["cluster"]
    cluster = _lock(ROOT / "requirements-cluster.lock")
    base = _lock(ROOT / "requirements.lock")
    assert len(extra) == 3
    for req in extra:
        name, _, version = req.partition("==")
        assert version, f"{req} is not pinned exactly"
        assert cluster[name] == version, (name, cluster.get(name), version)
        assert name not in base, f"{name} must not be in the default install"
    assert not any(n.startswith("snakemake-executor-plugin") for n in base)
    # environment.yml carries the same pins (commented out: optional)
    conda = re.findall(r"^\s*#\s*- (snakemake-\S+==\S+)$",
                       (ROOT / "environment.yml").read_text(), re.M)
    assert sorted(conda) == sorted(extra)
    assert "boto3" not in base and "kubernetes" not in base


def test_profiles_leave_the_default_run_alone_and_hold_no_secrets():
    # Snakemake applies profiles/default/ automatically: there must be none
    assert not (ROOT / "profiles" / "default").exists()
    make = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "dryrun"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", make, re.M).group(1)
        assert "--profile" not in recipe and "--executor" not in recipe, target
    for profile in (SLURM_PROFILE, K8S_PROFILE):
        text = (profile / "config.yaml").read_text()
        assert not re.search(r"^\s*(storage-s3-)?(access-key|secret-key|token)\s*:", text,
                             re.M | re.I), profile
        assert "AKIA" not in text  # no AWS access key id
    k8s = _profile(K8S_PROFILE, {})
    assert k8s["default-storage-provider"] == "s3"
    # the placeholder bucket is not a valid bucket name: nothing is written by mistake
    assert k8s["default-storage-prefix"] == "s3://SET-KETAMETA_S3_BUCKET/ketameta"
    assert _profile(K8S_PROFILE, {"KETAMETA_S3_BUCKET": "b1"})["default-storage-prefix"] == \
        "s3://b1/ketameta"


def test_every_rule_has_cluster_resources():
    """Each profile names only existing rules; every resource is a positive number."""
    text = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    rules = set(re.findall(r"^rule (\w+):", text, re.M))
    for profile in (SLURM_PROFILE, K8S_PROFILE):
        cfg = _profile(profile, {})
        assert set(cfg["set-resources"]) <= rules, set(cfg["set-resources"]) - rules
        for rule in rules:
            res = _resources(cfg, rule)
            for key in ("mem_mb", "runtime", "cpus_per_task"):
                assert isinstance(res[key], int) and res[key] > 0, (profile, rule, key)
        for key in ("jobs", "latency-wait"):
            assert cfg[key] > 0
        assert cfg["rerun-incomplete"] is True


# -- with the plugins: plans ------------------------------------------------------------------

@_requires("slurm")
def test_slurm_profile_plans_the_workflow(tmp_path):
    root = _tiny_copy(tmp_path / "wf")
    env = _env(KETAMETA_SLURM_PARTITION="short-q", KETAMETA_SLURM_PARTITION_MODELS="long-q")
    proc = _snakemake(root, "--profile", SLURM_PROFILE, "-n", env=env)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert f"Using profile {SLURM_PROFILE}" in text
    jobs = _jobs(text)
    chunks = _chunks(root)
    assert jobs["compute_effect_sizes"] == len(_analyses(root))
    # the multiverses' grids in chunks, one job each, then gathered; fit_model fits the rest
    assert jobs["fit_model"] == len(_analyses(root)) - len(chunks)
    assert jobs["fit_chunk"] == sum(chunks.values()) > len(chunks) and jobs["gather_chunks"] == len(chunks)
    assert {"build_report", "run_sensitivity", "plot_prisma", "export_values"} <= set(jobs)
    # every planned job carries its rule's resources from the profile
    profile = _profile(SLURM_PROFILE, env)
    planned = _planned_resources(text)
    assert set(planned) >= set(jobs) - {"all"}
    for rule, blocks in planned.items():
        want = _resources(profile, rule)
        for res in blocks:
            for key in ("mem_mb", "runtime", "cpus_per_task", "slurm_partition"):
                assert res.get(key) == str(want[key]), (rule, key, res.get(key), want[key])
    assert planned["fit_model"][0]["slurm_partition"] == "long-q"
    assert {r["slurm_partition"] for r in planned["fit_chunk"]} == {"long-q"}
    assert planned["make_table"][0]["slurm_partition"] == "short-q"
    assert not (root / "results" / "fits").exists()


@_requires("kubernetes", "s3")
def test_kubernetes_profile_plans_the_workflow(tmp_path):
    root = _tiny_copy(tmp_path / "wf")
    with FakeS3(buckets=[BUCKET]) as s3:
        env = _env(KETAMETA_S3_BUCKET=BUCKET, SNAKEMAKE_STORAGE_S3_ENDPOINT_URL=s3.url,
                   SNAKEMAKE_STORAGE_S3_ACCESS_KEY="dummy-key",
                   SNAKEMAKE_STORAGE_S3_SECRET_KEY="dummy-secret",
                   KUBECONFIG=str(tmp_path / "no-kubeconfig"))
        proc = _snakemake(root, "--profile", K8S_PROFILE, "-n", env=env)
        requests = s3.requests
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    jobs = _jobs(text)
    chunks = _chunks(root)
    assert jobs["fit_model"] == len(_analyses(root)) - len(chunks) and jobs["build_report"] == 1
    assert jobs["fit_chunk"] == sum(chunks.values()) and jobs["gather_chunks"] == len(chunks)
    # results are planned in the bucket, under the prefix
    assert f"s3://{BUCKET}/ketameta/results/report.html" in text
    assert requests and all(bucket == BUCKET for _, bucket, _ in requests)
    # the evidence travels with the workflow sources: never looked up in the bucket
    assert not [k for _, _, k in requests if "/data/" in k]
    assert not [m for m, _, _ in requests if m in ("PUT", "DELETE")]
    planned = _planned_resources(text)
    profile = _profile(K8S_PROFILE, {"KETAMETA_S3_BUCKET": BUCKET})
    for rule in ("fit_model", "fit_chunk", "gather_chunks", "make_table", "run_sensitivity"):
        assert planned[rule][0]["mem_mb"] == str(_resources(profile, rule)["mem_mb"])


# -- with the plugins: a SLURM submission -----------------------------------------------------

@_requires("slurm")
def test_slurm_submission_carries_the_rule_resources(tmp_path):
    """sbatch gets each rule's partition, memory, runtime and CPUs from the profile."""
    root = _tiny_copy(tmp_path / "wf")
    # the inputs of fit_model and of summarise_evidence (every analysis' exclusions, for the data
    # gaps) exist, so the SLURM run submits exactly fit_model(durability), the first chunk of the
    # durability multiverse and summarise_evidence
    pre = _snakemake(root, "--cores", "1", "--until", "compute_effect_sizes", env=_env())
    assert pre.returncode == 0, pre.stderr[-3000:]
    bindir = fake_slurm.install(tmp_path / "slurm")
    env = _env(FAKE_SLURM_DIR=str(tmp_path / "slurm"),
               KETAMETA_SLURM_ACCOUNT=fake_slurm.ACCOUNTS[0],
               KETAMETA_SLURM_PARTITION_MODELS="models-q")
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    proc = _snakemake(root, "--profile", SLURM_PROFILE, "--retries", "0",
                      "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "1",
                      "results/fits/durability.json", "results/tables/studies.csv",
                      "results/fits/durability_multiverse/part-0.csv.gz",
                      env=env, timeout=300)
    text = proc.stdout + proc.stderr
    calls = fake_slurm.submissions(tmp_path / "slurm")
    assert len(calls) == 3, text[-4000:]
    # the stand-in status query said COMPLETED, but nothing ran: Snakemake found the outputs
    # missing and stopped
    assert proc.returncode != 0 and "MissingOutputException" in text
    assert not (root / "results" / "fits" / "durability.json").exists()

    profile = _profile(SLURM_PROFILE, {"KETAMETA_SLURM_PARTITION_MODELS": "models-q"})
    seen = set()
    for argv in calls:
        opts = _sbatch_options(argv)
        rule = re.match(r"rule_(\w+?)(?:_wildcards_|$)", opts["--comment"]).group(1)
        seen.add(rule)
        want = _resources(profile, rule)
        # KETAMETA_SLURM_PARTITION is unset: jobs without a partition of their own go to the
        # cluster's default partition (the one sinfo marks)
        partition = want.get("slurm_partition", fake_slurm.DEFAULT_PARTITION)
        assert opts["-p"] == partition, (rule, opts)
        assert opts["--mem"] == str(want["mem_mb"]), (rule, opts)
        assert opts["-t"] == str(want["runtime"]), (rule, opts)
        assert opts["--cpus-per-task"] == str(want["cpus_per_task"]), (rule, opts)
        assert opts["-A"] == fake_slurm.ACCOUNTS[0]
        assert opts["-D"] == str(root)
        assert "--parsable" in argv
        # the job itself runs this rule's job with the SLURM job-step executor
        assert "--executor slurm-jobstep" in opts["--wrap"]
        assert f"--target-jobs '{rule}:" in opts["--wrap"]
    assert seen == {"fit_model", "fit_chunk", "summarise_evidence"}
    for rule in ("fit_model", "fit_chunk"):
        fit = _sbatch_options(next(a for a in calls if f"rule_{rule}" in " ".join(a)))
        assert (fit["-p"], fit["--mem"], fit["-t"]) == ("models-q", "2000", "30")


def _sbatch_options(argv: list[str]) -> dict[str, str]:
    """``{"-p": ..., "--mem": ..., "--wrap": ...}`` from one recorded sbatch argument list."""
    opts, i = {}, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            opts[k] = v
        elif a.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            opts[a] = argv[i + 1]
            i += 1
        else:
            opts[a] = ""
        i += 1
    return opts


# -- with the plugins: the storage settings carry a real run ----------------------------------

@_requires("kubernetes", "s3")
def test_kubernetes_profile_storage_carries_a_run(tmp_path):
    """Jobs of the Kubernetes profile (run by the local executor, as pods would run them) read
    the evidence from the workflow sources and exchange every result through the bucket."""
    root = _tiny_copy(tmp_path / "wf")
    with FakeS3(buckets=[BUCKET]) as s3:
        env = _env(KETAMETA_S3_BUCKET=BUCKET, SNAKEMAKE_STORAGE_S3_ENDPOINT_URL=s3.url,
                   SNAKEMAKE_STORAGE_S3_ACCESS_KEY="dummy-key",
                   SNAKEMAKE_STORAGE_S3_SECRET_KEY="dummy-secret")
        proc = _snakemake(root, "--profile", K8S_PROFILE, "--executor", "local", "--cores", "2",
                          "results/tables/durability.html", env=env)
        stored = {k: v[0] for k, v in s3.buckets[BUCKET].items()}
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    prefix = "ketameta/results/"
    for name in ("effect_sizes/durability.csv", "effect_sizes/durability.excluded.csv",
                 "fits/durability.json", "tables/durability.csv", "tables/durability.md",
                 "tables/durability.tex", "tables/durability.html",
                 "tables/durability.notes.txt", "logs/fit_model/durability.log"):
        assert prefix + name in stored, (name, sorted(stored))
    assert stored[prefix + "tables/durability.notes.txt"].strip()
    assert b"<table" in stored[prefix + "tables/durability.html"]
    assert not [k for k in stored if "/data/" in k]
    # nothing was written to the local results/ folder: results live in the bucket
    assert not (root / "results" / "tables" / "durability.html").exists()

