"""Chapters run wherever the kernel starts: paths come from the package, never from the working directory."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run_in(notebook, cwd, stop_before=None):
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    if stop_before:
        cut = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and stop_before in c.source)
        nb.cells = nb.cells[:cut]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


@pytest.mark.parametrize("notebook, stop_before", [
    ("appendix_performance.ipynb", None),       # reads benchmarks/results.json
    ("01_one_cycle.ipynb", "trainer.run("),     # loads MNIST, previews the schedule; stops before training
])
def test_chapter_runs_from_another_working_directory(tmp_path, monkeypatch, notebook, stop_before):
    if "01_" in notebook and not os.environ.get("NBSUPPORT_DATA"):
        pytest.skip("needs NBSUPPORT_DATA pointing at MNIST")
    monkeypatch.setenv("NBSUPPORT_PROGRESS", "0")
    nb = run_in(notebook, tmp_path, stop_before)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert list(tmp_path.iterdir()) == [], "the chapter wrote into the working directory"


def test_kernel_really_started_in_that_directory(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.getcwd())")])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == str(tmp_path)
