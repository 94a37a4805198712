"""pytest setup for the notebooks that nbval re-executes (see tests/ for the unit tests)."""

import os

# Progress bars are for people; in a re-executed notebook they would be output
# that differs on every run. The kernels nbval starts inherit this.
os.environ["NBSUPPORT_PROGRESS"] = "0"

# A relative NBSUPPORT_DATA (the README's `NBSUPPORT_DATA=../shared/data`) means relative to where pytest was
# started; the kernels nbval starts run in notebooks/ and some tests in other folders, so make it absolute here.
if os.environ.get("NBSUPPORT_DATA"):
    os.environ["NBSUPPORT_DATA"] = os.path.abspath(os.path.expanduser(os.environ["NBSUPPORT_DATA"]))


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        # SVG bytes depend on the matplotlib version and on training numbers that
        # vary by CPU; the numbers behind every figure are checked in the cells
        # that compute them.
        collector.skip_compare += ("image/svg+xml",)
        # myst-nb's glue stores a copy of each value for the prose, at full
        # precision; every glued value is also printed or asserted in a visible cell.
        collector.skip_compare += ("application/papermill.record/text/plain",
                                   "application/papermill.record/text/html")
