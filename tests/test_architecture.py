"""The layering is the import-linter contracts in pyproject.toml; the rules no import graph shows are checked here."""

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "clearing"


def test_the_import_contracts_hold():
    # Layers (cli > apps > sim | log > data > scenario > core > events > foundation), the
    # core's own layers, no simulation/storage/logging library in the core, no cycles.
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=PACKAGE.parent, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_only_the_cli_configures_logging():
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] != "cli":
            assert "structlog.configure" not in path.read_text(), path


def test_no_global_or_clock_randomness():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        for bad in ("np.random.seed", "random.seed", "default_rng()", "time.time(", "datetime.now("):
            assert bad not in text, f"{path}: {bad}"


def test_no_private_imports_across_modules():
    # `from clearing.x import _name` reaches into another module's privates.
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("from clearing") and " import " in line:
                names = line.split(" import ", 1)[1].strip("() ").split(",")
                private = [n.strip() for n in names if n.strip().startswith("_") and n.strip() != "__version__"]
                assert not private, f"{path}: imports {private}"


def test_the_package_root_holds_only_the_api_and_the_foundation():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "errors.py", "rng.py", "units.py"]


def test_no_module_is_much_longer_than_450_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 470}
    assert not long, long
