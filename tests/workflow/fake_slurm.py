"""Stand-ins for the SLURM commands that snakemake-executor-plugin-slurm calls.

:func:`install` writes one small Python program and links it under the names the plugin runs
(read from its source, version 2.8.0):

* ``sinfo -o %P`` -- partitions, the default one marked ``*`` (used when a job names none);
* ``scontrol show config`` -- ``MaxArraySize`` and ``MinJobAge``;
* ``sacctmgr -n -s list user ...`` / ``sshare`` -- the accounts of the user (account check);
* ``sbatch --parsable ...`` -- records its arguments as one JSON line in ``sbatch.jsonl`` and
  prints a new job id; nothing is run;
* ``sacct`` / ``squeue`` -- report every recorded job as COMPLETED (or as
  ``$FAKE_SLURM_JOB_STATE``): at its first status check Snakemake looks for the job's outputs,
  finds them missing (nothing ran) and stops;
* ``scancel`` -- accepted and ignored.

Put the returned directory first on ``PATH`` of the Snakemake process.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = ["install", "submissions", "COMMANDS", "DEFAULT_PARTITION", "ACCOUNTS"]

COMMANDS = ("sbatch", "sinfo", "scontrol", "sacctmgr", "sshare", "sacct", "squeue", "scancel")
#: the partition `sinfo` marks as the cluster's default
DEFAULT_PARTITION = "fake-default"
#: accounts `sacctmgr` lists for the user
ACCOUNTS = ("ketameta-test",)

_PROGRAM = r'''
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
name = Path(sys.argv[0]).name
args = sys.argv[1:]
log = state / "sbatch.jsonl"
job_state = os.environ.get("FAKE_SLURM_JOB_STATE", "COMPLETED")


def job_ids():
    if not log.exists():
        return []
    return [str(1000 + i) for i, _ in enumerate(log.read_text().splitlines())]


if name == "sbatch":
    n = len(job_ids())
    with open(log, "a") as fh:
        fh.write(json.dumps(args) + "\n")
    print(1000 + n)
elif name == "sinfo":
    print("PARTITION")
    print("{default}*")
    print("fake-other")
elif name == "scontrol":
    print("MaxArraySize            = 1001")
    print("MinJobAge               = 300 sec")
elif name in ("sacctmgr", "sshare"):
    for account in {accounts!r}:
        print(account)
elif name in ("sacct", "squeue"):
    # status queries name the run (--name); the reason queries (-j <id>.<step>) get nothing
    if "--name" in args or any(a.startswith("--name=") for a in args):
        for jid in job_ids():
            print(f"{{jid}}|{{job_state}}")
elif name == "scancel":
    pass
else:
    sys.exit(f"fake SLURM: unknown command {{name}}")
'''


def install(directory) -> Path:
    """Write the fake commands into ``directory/bin`` (state beside it); return the bin dir."""
    directory = Path(directory)
    bindir = directory / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    program = bindir / "fake_slurm"
    program.write_text(f"#!{sys.executable}\n"
                       + _PROGRAM.format(default=DEFAULT_PARTITION, accounts=ACCOUNTS))
    program.chmod(0o755)
    for name in COMMANDS:
        link = bindir / name
        if not link.exists():
            os.symlink(program.name, link)
    return bindir


def submissions(directory) -> list[list[str]]:
    """The argument lists of every ``sbatch`` call so far (in order)."""
    log = Path(directory) / "sbatch.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]
