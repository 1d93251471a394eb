"""The shape of the code base: layers, no import circles, small modules, one room per analysis kind.

See docs/architecture.md. These tests fail when a change breaks the layering the document
describes (not when it merely adds code).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

import ketameta
from ketameta.synthesis.registry import KINDS, kind_of

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ketameta"
MAX_LINES = 800


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """ketameta modules imported by ``path`` at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("ketameta")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("ketameta"):
                continue
            out.add(mod)
            for a in node.names:  # "from . import x" imports a module
                out.add(f"{mod}.{a.name}")
    return out


def _graph() -> dict[str, set[str]]:
    mods = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in mods.items():
        deps = set()
        for imp in _imports(path):
            # the longest existing module prefix is the dependency
            parts = imp.split(".")
            while parts and ".".join(parts) not in mods:
                parts.pop()
            if parts and ".".join(parts) != name:
                deps.add(".".join(parts))
        graph[name] = deps
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    graph = _graph()
    # a package's __init__ re-exporting its modules is not a circle of its own
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    assert _cycles(graph) == []


def test_no_module_over_800_lines():
    big = {str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"


def test_layers_point_one_way():
    """The engine imports neither evidence, outputs nor synthesis; evidence and outputs not synthesis."""
    graph = _graph()
    layer = {
        "engine": lambda m: not m.startswith(("ketameta.evidence", "ketameta.outputs",
                                              "ketameta.synthesis")),
        "evidence": lambda m: m.startswith("ketameta.evidence"),
        "outputs": lambda m: m.startswith("ketameta.outputs"),
    }
    forbidden = {"engine": ("ketameta.evidence", "ketameta.outputs", "ketameta.synthesis"),
                 "evidence": ("ketameta.outputs", "ketameta.synthesis"),
                 "outputs": ("ketameta.evidence", "ketameta.synthesis")}
    # the one bridge: the package namespace offers km.forest / km.funnel, which import the
    # plotting module lazily inside the function (docs/architecture.md, "Layers")
    allowed = {("ketameta", "ketameta.outputs.plots")}
    bad = []
    for mod, deps in graph.items():
        for name, member in layer.items():
            if member(mod):
                bad += [(mod, d) for d in deps if d.startswith(forbidden[name]) and (mod, d) not in allowed]
    assert bad == []


def test_plot_bridge_is_lazy():
    """``import ketameta`` loads neither the outputs layer nor matplotlib."""
    import subprocess
    import sys

    code = ("import sys, ketameta; print(any(m.startswith(('matplotlib', 'ketameta.outputs')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any(getattr(n, "module", "") and "outputs" in n.module for n in top)


def test_library_namespace_is_the_meta_analysis_api():
    names = set(ketameta.__all__)
    assert {"escalc", "rma", "rma_mv", "robust", "permutest", "leave1out", "confint",
            "predict"} <= names
    presentation = {"Table", "Citations", "write_values", "macro_name", "load_evidence",
                    "Evidence", "data_gaps"}
    assert not names & presentation


def test_library_holds_no_results_path():
    hits = []
    for p in SRC.rglob("*.py"):
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"[\"'][^\"']*results/", code) and "``" not in line:
                hits.append(f"{p.relative_to(ROOT)}:{i}")
    assert hits == []


def test_registry_covers_every_type_in_the_config_schema():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    types = set()

    def walk(node):
        if isinstance(node, dict):
            t = node.get("properties", {}).get("type")
            if isinstance(t, dict) and "enum" in t:
                types.update(t["enum"])
            elif isinstance(t, dict) and "const" in t:
                types.add(t["const"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert types, "no analysis types found in the config schema"
    for t in types:
        assert kind_of(t).type == t
    assert set(KINDS) == types


def test_no_branching_on_the_analysis_type_outside_the_kinds():
    pattern = re.compile(r"""(\[["']type["']\]|(?<!\.)\bkind)\s*(==|in)\s*[\("'\[]""")
    hits = []
    for p in (SRC / "synthesis").rglob("*.py"):
        if "kinds" in p.parts:
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    for p in (ROOT / "workflow" / "scripts").glob("*.py"):
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []


def test_scripts_do_not_read_data_directly():
    """After prepare_evidence, jobs read results/evidence (given by Snakemake), never data/."""
    hits = []
    for p in (ROOT / "workflow" / "scripts").glob("*.py"):
        if p.name == "prepare_evidence.py":  # the one job that reads data/ (its declared inputs)
            continue
        text = p.read_text(encoding="utf-8")
        if "load_evidence" in text or "data/" in text:
            hits.append(p.name)
    assert hits == []
