"""Docs are part of done: every event kind, CLI subcommand and scenario key is documented."""

import re

import pytest
from pydantic import BaseModel

from clearing import events as ev
from clearing.cli.app import build_parser
from clearing.scenario import Scenario
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def headings(path):
    return set(re.findall(r"^#+\s+`([^`]+)`", path.read_text(), flags=re.MULTILINE))


@pytest.mark.parametrize("kind", sorted(ev.KINDS))
def test_every_event_kind_is_documented_with_its_fields(kind):
    text = (DOCS / "events.md").read_text()
    assert kind in headings(DOCS / "events.md"), f"docs/events.md has no section for {kind}"
    section = re.split(rf"^#+\s+`{kind}`", text, flags=re.MULTILINE)[1].split("\n## ", 1)[0]
    for field in ev.KINDS[kind].__struct_fields__:
        if field not in ("ts_ns", "causes"):
            assert f"`{field}`" in section, f"docs/events.md: {kind} does not document field {field}"


def test_every_cli_subcommand_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    documented = headings(DOCS / "cli.md")
    for name in commands:
        assert f"clearing {name}" in documented, f"docs/cli.md has no section for clearing {name}"


def scenario_keys(model, prefix=""):
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from scenario_keys(annotation, f"{key}.")
        else:
            yield key


def test_every_scenario_key_is_documented():
    text = (DOCS / "scenario.md").read_text()
    for key in scenario_keys(Scenario):
        assert f"`{key}`" in text, f"docs/scenario.md does not document {key}"


def test_readme_quick_start_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert block.split() == ["make", "demo", "make", "test"]


def test_every_module_and_name_the_docs_cite_exists():
    # `clearing/core/book.py`, `clearing.core.risk.backing`: a restructuring must not leave
    # the docs pointing at modules or functions that moved.
    import importlib

    texts = [p.read_text() for p in [*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "replays" / "README.md"]]
    paths = {m for t in texts for m in re.findall(r"`(clearing/[a-z_/]+\.py)`", t)}
    assert not [p for p in sorted(paths) if not (ROOT / p).is_file()]
    missing = []
    for dotted in sorted({m for t in texts for m in re.findall(r"`(clearing(?:\.[a-z_]+)+)", t)}):
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attribute in parts[i:]:
                obj = getattr(obj, attribute, None)
            if obj is None:
                missing.append(dotted)
            break
    assert not missing, missing


def test_sources_are_cited_from_inside_the_repository():
    # A clone must be able to follow every citation: docs/references.md [id], never the team's
    # design notes outside the repository (references.md itself says where each claim sits in them).
    outside = re.compile(r"venues\.md|shared/design|options-pm\.md|perf-limits\.md|style\.md|SOURCES\.md")
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".toml") and p.is_file()]
    files = [p for p in files if not {".venv", "build", ".git"} & set(p.relative_to(ROOT).parts)]
    files = [p for p in files if p != DOCS / "references.md" and p != ROOT / "tests" / "test_docs.py"]
    offending = [f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
                 if outside.search(line)]  # fmt: skip
    assert not offending, offending


def test_every_cited_reference_id_has_an_entry():
    # `Source: docs/references.md [id]` in code, presets and docs, and `references.md#id` links, name an entry.
    entries = set(re.findall(r"^### \[([a-z0-9-]+)\]", (DOCS / "references.md").read_text(), re.M))
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".toml") and p.is_file()]
    files = [p for p in files if not {".venv", "build", ".git"} & set(p.relative_to(ROOT).parts)]
    files = [p for p in files if p != ROOT / "tests" / "test_docs.py"]
    missing = []
    for p in files:
        text = p.read_text()
        cited = set(re.findall(r"references\.md#([a-z0-9-]+)", text))
        lines = text.splitlines()
        for n, line in enumerate(lines):
            if "references.md [" in line:
                cited |= set(re.findall(r"\[([a-z0-9-]+)\]", line.split("references.md", 1)[1]))
                follow = lines[n + 1] if n + 1 < len(lines) else ""
                if line.rstrip().endswith(",") and re.fullmatch(r"\s*#?\s*(\[[a-z0-9-]+\][,.]?\s*)+\S*", follow):
                    cited |= set(re.findall(r"\[([a-z0-9-]+)\]", follow))
        missing += [f"{p.relative_to(ROOT)}: [{name}]" for name in sorted(cited - entries)]
    assert not missing, missing


def test_the_scenario_json_schema_is_current_describes_every_key_and_accepts_the_shipped_files():
    import json
    import subprocess
    import sys
    import tomllib

    import jsonschema

    check = subprocess.run([sys.executable, "tools/scenario_schema.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    schema = json.loads((ROOT / "clearing" / "scenario" / "scenario.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "scenarios").glob("*.toml")) + sorted((ROOT / "clearing" / "scenario" / "presets").rglob("*.toml"))
    assert len(files) > 20
    for path in files:
        errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text()))]
        assert errors == [], f"{path.name}: {errors}"
    typo = list(validator.iter_errors({"oracle": {"heartbeat": 60}}))  # an editor flags the misspelt key
    assert len(typo) == 1 and "heartbeat" in typo[0].message
    assert "scenario.schema.json" in (ROOT / "docs" / "scenario.md").read_text()
