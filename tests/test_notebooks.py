"""The example notebooks (examples/*.ipynb): stored clean, and run top to bottom without error.

The fast tests check that each notebook is valid nbformat v4 with no outputs and no execution
counts, so the repository keeps only their source. The slow tests (`make test-slow`) execute each
one with nbclient on a kernel of this interpreter, from the repository root, with its outputs sent
to a temporary directory (`CLEARING_EXAMPLES_OUT`) and `CLEARING_DATA_DIR` passed through; a
notebook that declares crash-day files in its metadata (`metadata.clearing.data_files`) is skipped,
naming them, when they are not in the data directory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
EXPECTED = {"replay-crash-day", "oracle-sensitivity", "cascade-study", "portfolio-margin"}
KERNEL = "clearing-examples"  # a kernel spec written for the tests, running this interpreter
CELL_TIMEOUT_S = 600


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def data_directories() -> list[Path]:
    # Where `clearing` looks for data files when no --data-dir is given: $CLEARING_DATA_DIR, then ./data.
    dirs = [Path(os.environ["CLEARING_DATA_DIR"])] if os.environ.get("CLEARING_DATA_DIR") else []
    return [*dirs, ROOT / "data"]


def test_the_four_examples_are_there():
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED
    assert (EXAMPLES / "README.md").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_and_stored_without_outputs(path):
    nb = read(path)
    assert nb.nbformat == 4
    nbformat.validate(nb)  # raises ValidationError on a malformed notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.get("outputs") == [], f"cell {cell.get('id')} has stored outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"cell {cell.get('id')} has an execution count"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title"
    files = nb.metadata.get("clearing", {}).get("data_files", [])
    assert isinstance(files, list) and all(isinstance(f, str) and f for f in files)


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory):
    # A Jupyter data directory holding one kernel spec that runs this very interpreter (the .venv's, with
    # ipykernel from the test extra), so that nothing depends on the kernels a machine has registered.
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "clearing examples", "language": "python"}))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, jupyter_path, tmp_path, monkeypatch):
    nb = read(path)
    needed = nb.metadata.get("clearing", {}).get("data_files", [])
    missing = [f for f in needed if not any((d / f).is_file() for d in data_directories())]
    if missing:
        pytest.skip(f"{path.name} needs crash-day data: {', '.join(missing)} not in the data directory "
                    f"(set CLEARING_DATA_DIR; docs/data.md)")  # fmt: skip

    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))  # where the kernel spec is found
    monkeypatch.setenv("CLEARING_EXAMPLES_OUT", str(tmp_path))  # the kernel inherits the environment
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # figures as outputs
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(ROOT)}})  # cwd: the repository root
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell failed\n{error}", pytrace=False)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "every example draws at least one figure"
