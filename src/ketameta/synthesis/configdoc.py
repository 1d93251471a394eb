"""The configuration reference (``docs/config.md``), generated from the config schema.

Every key of ``config/config.yaml`` is described in ``workflow/schemas/config.schema.yaml``
(its type, allowed values, default and meaning); this module renders the schema as one table
per section and per analysis type, so the reference never drifts from what the validation
accepts. ``python -m ketameta.synthesis.configdoc`` (``make docs``) rewrites the file;
``--check`` only says whether it is current (a test runs it), and :func:`undocumented_keys`
lists keys used in a configuration that the schema does not describe.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

__all__ = ["config_reference", "undocumented_keys", "main"]

HEADER = (
    "# Configuration reference\n\n"
    "<!-- generated from workflow/schemas/config.schema.yaml by `make docs`; do not edit -->\n\n"
    "Every key of `config/config.yaml`, with its allowed values and default, as the validation "
    "checks them. An analysis entry's keys depend on its `type` (one table per type below).\n"
)


def _resolve(schema: Mapping, node: Mapping) -> Mapping:
    """Follow ``$ref`` (local ``#/$defs/...`` references only)."""
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Mapping = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _allowed(schema: Mapping, node: Mapping) -> str:
    """The allowed values of a property in words."""
    node = _resolve(schema, node)
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " | ".join("`null`" if v is None else f"`{v}`" for v in node["enum"])
    t = node.get("type")
    if isinstance(t, list):
        t = " or ".join(str(x) for x in t)
    parts = [str(t)] if t else []
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        parts = [f"list of {_allowed(schema, node['items'])}"]
    for key, word in (("minimum", "≥"), ("maximum", "≤"), ("minItems", "items ≥"), ("maxItems", "items ≤")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    if "anyOf" in node or "oneOf" in node:
        parts = [" or ".join(_allowed(schema, n) for n in node.get("anyOf", node.get("oneOf")))]
    return ", ".join(parts) or "see description"


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(schema: Mapping, node: Mapping, prefix: str = "") -> list[str]:
    node = _resolve(schema, node)
    props = node.get("properties") or {}
    required = set(node.get("required") or [])
    lines = ["| Key | Allowed values | Default | Required | Description |",
             "| --- | --- | --- | --- | --- |"]
    for key, sub in props.items():
        sub_r = _resolve(schema, sub)
        default = sub_r.get("default", "")
        lines.append(f"| `{prefix}{key}` | {_cell(_allowed(schema, sub_r))} | "
                     f"{_cell(default) if default != '' else ''} | {'yes' if key in required else ''} | "
                     f"{_cell(sub_r.get('description', ''))} |")
    return lines


def config_reference(schema: Mapping) -> str:
    """The reference as Markdown: the top-level keys, each object section, each analysis type."""
    out = [HEADER, "## Top-level keys", ""]
    out += _table(schema, schema)
    for key, sub in (schema.get("properties") or {}).items():
        sub = _resolve(schema, sub)
        if key == "analyses" or sub.get("type") != "object" or not sub.get("properties"):
            continue
        out += ["", f"## `{key}`", "", _cell(sub.get("description", "")), ""]
        out += _table(schema, sub, prefix=f"{key}.")
    kinds = [(k, v) for k, v in (schema.get("$defs") or {}).items()
             if isinstance(v, Mapping) and "type" in (v.get("properties") or {})
             and "const" in _resolve(schema, v["properties"]["type"])]
    for name, node in sorted(kinds):
        out += ["", f"## Analysis type `{name}`", "", _cell(node.get("description", "")), ""]
        out += _table(schema, node)
    return "\n".join(out) + "\n"


def _walk(schema: Mapping, node: Mapping, value, path: str) -> Iterator[str]:
    node = _resolve(schema, node)
    if isinstance(value, Mapping) and node.get("properties"):
        for key, sub_value in value.items():
            sub = node["properties"].get(key)
            if sub is None:
                continue  # unknown keys are the validation's business (an error there)
            if not _resolve(schema, sub).get("description"):
                yield f"{path}{key}"
            yield from _walk(schema, sub, sub_value, f"{path}{key}.")


def undocumented_keys(config: Mapping, schema: Mapping) -> list[str]:
    """Keys used in ``config`` whose schema entry has no description (analysis entries by type)."""
    missing = list(_walk(schema, {k: v for k, v in schema.items() if k != "properties"} | {
        "properties": {k: v for k, v in schema["properties"].items() if k != "analyses"}},
        {k: v for k, v in config.items() if k != "analyses"}, ""))
    for aid, entry in (config.get("analyses") or {}).items():
        node = (schema.get("$defs") or {}).get(entry.get("type"), {})
        missing += [f"analyses.{aid}.{m}" for m in _walk(schema, node, entry, "")]
    return missing


def main(argv=None) -> int:
    """Write (or ``--check``) the configuration reference."""
    ap = argparse.ArgumentParser(prog="python -m ketameta.synthesis.configdoc",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--schema", default="workflow/schemas/config.schema.yaml", type=Path)
    ap.add_argument("--out", default="docs/config.md", type=Path)
    ap.add_argument("--check", action="store_true", help="only report whether the file is current")
    args = ap.parse_args(argv)
    text = config_reference(yaml.safe_load(args.schema.read_text(encoding="utf-8")))
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    if args.check:
        if current != text:
            print(f"{args.out} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"{args.out}: configuration reference regenerated from {args.schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
