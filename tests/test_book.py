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
def test_notebook_is_stored_without_progress_bar_widgets(path):
    # A progress bar stored as a widget loads require.js and the widget manager from a CDN in the built
    # book (which must work offline); store chapters with NBSUPPORT_PROGRESS=0, as the tests run them.
    widgets = [c["source"][:1] for c in code_cells(path) for o in c["outputs"]
               if any("jupyter.widget" in k for k in o.get("data", {}))]
    assert not widgets, f"{path.name}: widget outputs in cells {widgets}; execute with NBSUPPORT_PROGRESS=0"
    state = json.loads(path.read_text())["metadata"].get("widgets")
    assert not state, f"{path.name}: widget state in the notebook's metadata; execute with NBSUPPORT_PROGRESS=0"


COLUMN = 76  # characters of a code block at 1280 px before it scrolls sideways (tests/test_browser.py)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_or_printed_line_of_a_shown_cell_is_wider_than_the_column(path):
    # The browser test sees only what shows with every toggle closed; this covers collapsed cells too.
    wide = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code" or "remove-cell" in cell["metadata"].get("tags", []):
            continue
        printed = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
        for kind, text in (("code", "".join(cell["source"])), ("output", printed)):
            wide += [(i, kind, len(line)) for line in text.splitlines() if len(line) > COLUMN]
    assert not wide, f"{path.name}: (cell, kind, characters) over {COLUMN}: {wide}"


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


def markdown_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_an_in_short_box(path):
    # The title (after its target label), then at once the answer: question, answer, what to do.
    first = markdown_cells(path)[0]
    match = re.match(r"(\(\S+\)=\n)?# [^\n]+\n\n```\{admonition\} In short\n(.*?)\n```\n", first, re.S)
    assert match, f"{path.name}: the title is not followed by an 'In short' box"
    for part in ("**The question.**", "**The answer.**", "**What to do.**"):
        assert part in match.group(2), f"{path.name}: the 'In short' box lacks {part}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_ends_with_three_or_four_exercises(path):
    last = markdown_cells(path)[-1]
    assert last.startswith("## Exercises\n"), f"{path.name}: the last cell is not the exercises"
    assert 3 <= len(re.findall(r"^\d+\. \*\*", last, re.M)) <= 4, f"{path.name}: not 3 or 4 exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_plumbing_is_in_one_collapsed_box(path):
    boxes = [m for m in markdown_cells(path) if "{admonition} How we know" in m]
    assert len(boxes) <= 1, f"{path.name}: more than one 'How we know' box"
    for box in boxes:
        assert re.search(r"```\{admonition\} How we know\n:class: dropdown\n", box), f"{path.name}: not collapsed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_citations_are_parenthetical_or_textual(path):
    # {cite} renders a bare label; {cite:p} and {cite:t} give the author-year forms.
    for text in markdown_cells(path):
        assert "{cite}`" not in text, f"{path.name}: use {{cite:p}} or {{cite:t}}, not {{cite}}"


def test_listing_reads_as_prose():
    from nbsupport.book import listing

    assert listing([]) == "none"
    assert listing([], empty="no activation") == "no activation"
    assert listing(["ELU"]) == "ELU"
    assert listing(["ELU", "GELU"]) == "ELU and GELU"
    assert listing(["ELU", "GELU", "tanh"]) == "ELU, GELU and tanh"
    assert listing(x for x in ("a", "b")) == "a and b"


def test_verdict_sentence_groups_labels_by_verdict_in_a_fixed_order():
    from nbsupport.book import verdict_sentence

    got = verdict_sentence({"A": "worse", "B": "better", "C": "worse", "D": "undecided"})
    assert got == "B was better; D was undecided; A and C were worse"
    assert verdict_sentence({"A": "equivalent"}) == "A was equivalent"
    with pytest.raises(ValueError, match="unknown verdict"):
        verdict_sentence({"A": "fine"})
    with pytest.raises(ValueError, match="no verdicts"):
        verdict_sentence({})
