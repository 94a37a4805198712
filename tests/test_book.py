"""The book as stored: executed notebooks, tagged cells, and Colab cells that agree with _config.yml."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_every_chapter_in_the_toc_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files
    for file in files:
        assert any((ROOT / f"{file}{ext}").exists() for ext in (".ipynb", ".md")), file


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_top_to_bottom_without_errors(path):
    # nbval passes vacuously on a notebook stored without outputs.
    cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: unexecuted code cells"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: not executed top to bottom in one run"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: stored with an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figure_cells_hide_their_input_and_figures_are_svg(path):
    for cell in code_cells(path):
        images = [o for o in cell["outputs"] if "data" in o and any(k.startswith("image/") for k in o["data"])]
        if images:
            assert "hide-input" in cell["metadata"].get("tags", []), "".join(cell["source"])[:80]
            assert all("image/svg+xml" in o["data"] for o in images)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_cell_installs_from_the_configured_repository(path):
    first = "".join(code_cells(path)[0]["source"])
    assert 'if "google.colab" in sys.modules:' in first
    urls = re.findall(r"git\+(\S+?)\"", first)
    assert urls == [CONFIG["repository"]["url"]]
    assert "remove-cell" in code_cells(path)[0]["metadata"].get("tags", [])


def test_colab_cell_does_nothing_outside_colab(capsys):
    import sys

    first = "".join(code_cells(NOTEBOOKS[0])[0]["source"])
    assert "google.colab" not in sys.modules
    namespace = {}
    exec(first, namespace)  # must neither install nor print anything here
    assert "subprocess" not in namespace and capsys.readouterr() == ("", "")
