"""The public API: ``nbsupport.__all__`` is what its docstring lists, every name resolves, and every name a
chapter imports from ``nbsupport`` itself is in it (anything else a chapter uses comes from its module)."""

import json
import re
from pathlib import Path

import nbsupport
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_docstring_lists_exactly_the_public_names():
    block = nbsupport.__doc__.split("The public API", 1)[1].split("Everything else", 1)[0]
    listed = re.findall(r"``([A-Za-z_]+)``", block)
    listed = [name for name in listed if name != "__all__"]
    assert sorted(listed) == sorted(nbsupport.__all__)
    assert len(set(nbsupport.__all__)) == len(nbsupport.__all__)


def test_every_public_name_resolves():
    for name in nbsupport.__all__:
        assert getattr(nbsupport, name) is not None, name


def test_the_chapters_import_only_public_names_from_the_package_itself():
    used = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            for match in re.finditer(r"from nbsupport import \(([^)]*)\)|from nbsupport import ([^\n(]+)", source):
                names = (match.group(1) or match.group(2)).split("#")[0]
                used |= {n.strip() for n in names.replace("\n", ",").split(",") if n.strip()}
    assert used, "no chapter imports from nbsupport: the pattern is out of date"
    assert used - {"data", "book", "grid"} <= set(nbsupport.__all__), used - set(nbsupport.__all__)


def test_moved_names_stay_importable_from_their_old_modules_and_show_in_dir():
    from nbsupport import data, fashion_mnist, grid, grid_run, range_readings, range_tests

    assert range_tests.suggestions is range_readings.suggestions
    assert data.read_idx is fashion_mnist.read_idx
    assert grid.retrain_stored is grid_run.retrain_stored and nbsupport.load_results is grid.load_results
    assert "suggestions" in dir(range_tests) and "RangeTestConfig" in dir(range_tests)
    assert "load_predictions" in dir(nbsupport)
    with pytest.raises(AttributeError, match="nbsupport.range_tests.*no_such_name"):
        range_tests.no_such_name  # noqa: B018
