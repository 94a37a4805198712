"""The built book in headless Chromium, as a reader sees it.

Builds the book (``jupyter-book build . -W``), serves ``_build/html`` on
localhost and opens the intro and every chapter in Debian's Chromium driven by
Playwright (never a downloaded browser). Full-page screenshots land in
``_build/screenshots/`` for a person to look at.
"""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("NBSUPPORT_CHROMIUM", "/usr/bin/chromium")
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [ch["file"] for part in TOC["parts"] for ch in part["chapters"] if ch["file"] != "bibliography"]
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]
# The four numbered chapters each have figures and citations; the appendix has tables only.
NUMBERED = [p for p in CHAPTERS if re.match(r"notebooks/\d", p)]


def _need_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        missing = None if Path(CHROMIUM).exists() else CHROMIUM
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing; .ci/run installs Debian's chromium and requirements.txt playwright")
        pytest.skip(f"{missing} is missing (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def site():
    _need_browser()
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(ROOT), "-W", "--quiet"], check=True, cwd=ROOT)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def open_page(browser, site, path, suffix=".html"):
    """Load a page with every request outside 127.0.0.1 blocked: the book must work offline."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, external = [], []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def route(r):
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    response = page.goto(urljoin(site, f"{path}{suffix}"), wait_until="load")
    assert response.ok, f"{path}: HTTP {response.status}"
    # Wait for MathJax (bundled in _static/mathjax) to typeset, where the page loads it.
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                  " ? MathJax.startup.promise.then(() => true) : true")
    assert not external, f"{path}: requests outside the machine: {external}"
    return page, errors


RAW_TEX = re.compile(r"\$\$|\$[^$\n]{1,200}\$|\\\(|\\\[|\\begin\{")


def raw_tex(page):
    """TeX delimiters left in the visible prose of ``main`` (code blocks excluded): math that did not render."""
    text = page.evaluate("""() => {
        const main = document.querySelector('main') || document.body;
        const copy = main.cloneNode(true);
        copy.querySelectorAll('pre, code, script, style, mjx-container, mjx-assistive-mml').forEach(e => e.remove());
        return copy.innerText;
    }""")
    return RAW_TEX.findall(text)


def anchors_of(html_file):
    return set(re.findall(r'\bid="([^"]+)"', html_file.read_text()))


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors_or_broken_links(browser, site, path):
    page, errors = open_page(browser, site, path)
    assert not errors, f"{path}: JavaScript errors {errors}"
    assert "|---|" not in page.inner_text("main"), f"{path}: a Markdown table was rendered as plain text"
    assert not raw_tex(page), f"{path}: math left as raw TeX: {raw_tex(page)[:5]}"
    for img in page.query_selector_all("img"):
        ok = img.evaluate("i => i.complete && i.naturalWidth > 0")
        assert ok, f"{path}: image {img.get_attribute('src')} did not load"
    base = urljoin(site, f"{path}.html")
    for href in {a.get_attribute("href") for a in page.query_selector_all("a[href]")}:
        url = urlparse(urljoin(base, href))
        if url.hostname != "127.0.0.1" or url.path.endswith("/_sources/"):
            continue
        target = HTML / url.path.lstrip("/")
        if url.path.endswith("/"):
            target = target / "index.html"
        assert target.exists(), f"{path}: broken link {href}"
        if url.fragment and target.suffix == ".html":
            assert url.fragment in anchors_of(target), f"{path}: link {href} points at a missing anchor"
    name = path.replace("/", "_")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("path", NUMBERED)
def test_figures_show_and_their_code_is_one_click_away(browser, site, path):
    page, _ = open_page(browser, site, path)
    cells = page.query_selector_all("div.cell.tag_hide-input")
    assert cells, f"{path}: no figure cells"
    for cell in cells:
        for img in cell.query_selector_all(".cell_output img"):
            box = img.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, f"{path}: figure not displayed"
        code = cell.query_selector(".cell_input")
        toggle = cell.query_selector("details summary")
        assert "Show code cell source" in toggle.inner_text()
        assert not code.is_visible(), f"{path}: figure code is not collapsed"
        toggle.click()
        page.wait_for_timeout(100)
        assert code.is_visible() and re.search(r"plot|fig", code.inner_text()), f"{path}: toggle shows no code"
    assert page.query_selector_all(".cell.tag_hide-input .cell_output img"), f"{path}: no figure images"
    page.close()


@pytest.mark.parametrize("path", NUMBERED)
def test_citations_link_to_the_bibliography(browser, site, path):
    page, _ = open_page(browser, site, path)
    cites = page.query_selector_all('a[href*="bibliography.html#"]')
    assert cites, f"{path}: no citations"
    entries = anchors_of(HTML / "bibliography.html")
    for a in cites:
        assert a.get_attribute("href").split("#")[1] in entries
    page.close()


def test_table_of_contents_reaches_every_chapter(browser, site):
    page, _ = open_page(browser, site, "intro")
    nav = {urlparse(a.get_attribute("href")).path.removesuffix(".html").lstrip("./")
           for a in page.query_selector_all("nav.bd-links a[href]")}
    for chapter in CHAPTERS + ["bibliography"]:
        assert chapter in nav, f"{chapter} is not in the table of contents"
    page.close()


def test_raw_tex_check_catches_unrendered_math(browser, site):
    """The raw-TeX check itself: a page whose math was not typeset must fail it."""
    probe = HTML / "_raw_tex_probe.html"
    probe.write_text("<html><body><main><p>An effective step of $\\eta/(1-\\beta)$ and "
                     "\\(x^2\\)</p><pre>cost = $5 $6</pre></main></body></html>")
    try:
        page, _ = open_page(browser, site, "_raw_tex_probe")
        assert raw_tex(page) == ["$\\eta/(1-\\beta)$", "\\("]
        page.close()
    finally:
        probe.unlink()


def test_math_is_typeset_by_the_bundled_mathjax(browser, site):
    page, _ = open_page(browser, site, "notebooks/02_momentum")
    assert page.query_selector_all("mjx-container"), "no typeset math on the momentum chapter"
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists()
    page.close()
