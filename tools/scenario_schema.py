"""Write (or check) the scenario JSON Schema shipped as `clearing/scenario/scenario.schema.json`.

The schema is pydantic's for `clearing.scenario.Scenario`, with every nested model inlined
(a key's description depends on where it sits: `oracle.heartbeat_s` and
`collateral.oracle.heartbeat_s` are different keys) and every key described: by its field's
own `description`, else by its row in docs/scenario.md (meaning, then type and default), else
by its twin's row (`markets.tick_size` is `market.tick_size`'s). The test suite runs
`--check`, so the shipped file never differs from the models and the reference page.

    python tools/scenario_schema.py          # write it
    python tools/scenario_schema.py --check  # exit 1 if it would change, or a key has no description
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "clearing" / "scenario" / "scenario.schema.json"
DOC = ROOT / "docs" / "scenario.md"
# Where a key's row may be found when it has none of its own: prefixes tried in order.
TWINS = (("markets.price.", "price."), ("markets.", "market."), ("collateral.shocks.", "price.shocks."),
         ("option_makers.", "market_makers."), ("oracle.sources.dislocations.", "oracle.sources.window."),
         ("oracle.sources.outages.", "oracle.sources.window."), ("oracle.sources.frozen.", "oracle.sources.window."),
         ("collateral.oracle.", "oracle."))  # fmt: skip


def doc_rows(text: str) -> dict[str, str]:
    """Return each documented key's description: its meaning, type and default, from the reference page's tables."""
    rows: dict[str, str] = {}
    context = ""
    for line in text.splitlines():
        each = re.match(r"(?:Each|A) `?\[*([a-z_.]+)\]*`? (?:table|has)", line)
        if each:
            context = each.group(1)
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        keys, unit, default, meaning = cells[0], cells[1], cells[2], "|".join(cells[3:]).strip()
        parts = [meaning] if meaning else []
        parts.append("; ".join(p for p in (unit, f"default: {default}" if default else "") if p))
        description = ". ".join(p for p in parts if p)
        for key in re.findall(r"`([A-Za-z_0-9.]+)`", keys):
            key = key.replace(".N.", ".")
            dotted = key if "." in key or not context else f"{context}.{key}"
            rows.setdefault(dotted, description)
    return rows


def inline(node: Any, defs: dict[str, Any]) -> Any:
    """Return the schema with every `$ref` replaced by a copy of its definition (scenarios are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**inline(defs[node["$ref"].rsplit("/", 1)[1]], defs), **inline(rest, defs)}
        return {k: inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, defs) for v in node]
    return node


def properties(node: dict[str, Any], path: str = ""):  # type: ignore[no-untyped-def]
    """Yield (dotted key, its schema) for every key, list items and alternatives included."""
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            yield from properties(sub, path)
    items = node.get("items")
    if isinstance(items, dict):
        yield from properties(items, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from properties(extra, path)
    for name, sub in node.get("properties", {}).items():
        dotted = f"{path}.{name}" if path else name
        yield dotted, sub
        yield from properties(sub, dotted)


def build() -> tuple[dict[str, Any], list[str]]:
    """Return the schema and the keys left without a description."""
    sys.path.insert(0, str(ROOT))
    from clearing.scenario import Scenario

    schema = Scenario.model_json_schema()
    tree = inline(schema, schema.pop("$defs", {}))
    # The schema of a file as written: `include` merges presets or files in before it, so no key is required of the
    # file itself (the loader fills `name` from the file's name; `duration_s` may come from an include).
    tree["properties"]["include"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    tree.pop("required", None)
    rows = doc_rows(DOC.read_text())
    missing = []
    for dotted, sub in properties(tree):
        if sub.get("description"):
            continue
        candidates = [dotted] + [twin + dotted[len(p):] for p, twin in TWINS if dotted.startswith(p)]
        found_all = [rows[c] for c in candidates if c in rows]  # a row that says "as `market.*`" yields to its twin's
        found = next((d for d in found_all if "as `" not in d), found_all[0] if found_all else None)
        if found is None:
            missing.append(dotted)
        else:
            sub["description"] = found
    tree["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    tree["$id"] = "https://clearing-sim.invalid/scenario.schema.json"
    tree["description"] = "A clearing scenario (TOML): every key, its type, default and meaning (docs/scenario.md)."
    return tree, missing


def main(argv: list[str]) -> int:
    tree, missing = build()
    text = json.dumps(tree, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if missing:
        print(f"scenario keys without a description: {', '.join(missing)}", file=sys.stderr)
        return 1
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python tools/scenario_schema.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
