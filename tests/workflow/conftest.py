"""Run the Snakemake workflow in a temporary copy of the repository.

Helpers shared by the workflow tests (import them with
``from tests.workflow.conftest import run_workflow``):

* :func:`copy_project` -- copy ``Snakefile``, ``workflow/``, ``config/`` and ``data/`` into a
  directory, then optionally replace data files and edit the configuration;
* :func:`run_workflow` -- the same, then run ``snakemake --cores 2`` there (the ``snakemake`` of
  the interpreter running the tests, i.e. ``.venv/bin/snakemake``);
* :func:`read_config` / :func:`write_config` -- the copy's ``config/config.yaml`` as a dict;
* :func:`tree_digest` -- SHA-256 of every file under a directory (inputs must never change);
* :func:`written_results` -- files under ``results/`` other than ``results/README.md``;
* :func:`stray_temporary_files` -- temporary files left by an interrupted atomic write.

The repository itself is never written to: every run happens in the temporary copy.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

__all__ = [
    "ROOT",
    "SNAKEMAKE",
    "PROJECT_ITEMS",
    "copy_project",
    "run_workflow",
    "read_config",
    "write_config",
    "tree_digest",
    "written_results",
    "stray_temporary_files",
]

ROOT = Path(__file__).resolve().parents[2]
#: The snakemake executable installed beside the interpreter running the tests.
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
#: What a run needs from the repository (results/ is generated and never copied).
PROJECT_ITEMS = ("Snakefile", "workflow", "config", "data")
CONFIG = Path("config") / "config.yaml"

ConfigEdit = Callable[[dict], "dict | None"] | Mapping


def read_config(workdir) -> dict:
    """The configuration of the copy in ``workdir`` as a dict."""
    with open(Path(workdir) / CONFIG, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def write_config(workdir, config: dict) -> None:
    """Write ``config`` as the copy's ``config/config.yaml``."""
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    (Path(workdir) / CONFIG).write_text(text, encoding="utf-8")


def _merge(base: dict, edit: Mapping) -> dict:
    """Deep-merge ``edit`` into ``base`` (mappings merge; anything else replaces)."""
    for key, value in edit.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def copy_project(workdir, data: Mapping | None = None,
                 config_edit: ConfigEdit | None = None) -> Path:
    """Prepare a runnable copy of the project in ``workdir``.

    Parameters
    ----------
    workdir : path
        Target directory (e.g. pytest's ``tmp_path``). The project items are copied only if
        ``workdir/Snakefile`` does not exist yet, so a second call edits the existing copy
        (useful for "edit the data, rerun" tests).
    data : mapping, optional
        File name relative to ``data/`` (e.g. ``"effects.csv"``) -> new content (``str`` is
        written as UTF-8 without newline translation, ``bytes`` as is, a :class:`~pathlib.Path`
        is copied). ``None`` as content deletes the file.
    config_edit : callable or mapping, optional
        A function that receives the configuration dict and edits it in place (or returns a
        replacement), or a mapping deep-merged into it.

    Returns
    -------
    Path
        ``workdir``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "Snakefile").exists():
        for item in PROJECT_ITEMS:
            src = ROOT / item
            if src.is_dir():
                shutil.copytree(src, workdir / item,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(src, workdir / item)
    for name, content in (data or {}).items():
        target = workdir / "data" / name
        if content is None:
            target.unlink(missing_ok=True)
        elif isinstance(content, Path):
            shutil.copyfile(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(str(content).encode("utf-8"))
    if config_edit is not None:
        config = read_config(workdir)
        if callable(config_edit):
            edited = config_edit(config)
            config = config if edited is None else edited
        else:
            config = _merge(config, config_edit)
        write_config(workdir, config)
    return workdir


def run_workflow(tmp_path, *args, data: Mapping | None = None,
                 config_edit: ConfigEdit | None = None, env: Mapping | None = None,
                 timeout: float = 1800) -> subprocess.CompletedProcess:
    """Copy the project into ``tmp_path`` (see :func:`copy_project`) and run Snakemake there.

    Runs ``<venv>/bin/snakemake --cores 2 *args`` with ``tmp_path`` as the working directory
    and returns the :class:`subprocess.CompletedProcess` (``stdout``/``stderr`` as text;
    Snakemake prints its messages, including input errors, on stderr). It does not raise on a
    non-zero exit: check ``returncode``.

    Examples
    --------
    >>> proc = run_workflow(tmp_path, "-n")                                   # doctest: +SKIP
    >>> proc = run_workflow(tmp_path, config_edit={"level": 90})              # doctest: +SKIP
    >>> proc = run_workflow(tmp_path, data={"effects.csv": broken_text})      # doctest: +SKIP
    """
    workdir = copy_project(tmp_path, data=data, config_edit=config_edit)
    run_env = dict(os.environ)
    run_env["PATH"] = f"{SNAKEMAKE.parent}{os.pathsep}{run_env.get('PATH', '')}"
    run_env.setdefault("MPLBACKEND", "Agg")
    run_env.update(env or {})
    cmd = [str(SNAKEMAKE), "--cores", "2", *map(str, args)]
    return subprocess.run(cmd, cwd=workdir, env=run_env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def tree_digest(directory) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``directory``."""
    directory = Path(directory)
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def written_results(workdir) -> list[str]:
    """Files under ``workdir/results`` except ``results/README.md`` (relative paths)."""
    results = Path(workdir) / "results"
    if not results.exists():
        return []
    return sorted(str(p.relative_to(workdir)) for p in results.rglob("*")
                  if p.is_file() and p.relative_to(results) != Path("README.md"))


def stray_temporary_files(workdir) -> list[str]:
    """Temporary files of :func:`ketameta.io.atomic_write` (``.<name>.*.tmp``) under results/."""
    results = Path(workdir) / "results"
    if not results.exists():
        return []
    return sorted(str(p.relative_to(workdir)) for p in results.rglob(".*.tmp"))
