"""The built book in headless Chromium, as a reader sees it.

Builds the book (``jupyter-book build . -W``), serves ``_build/html`` on
localhost and opens the intro and every chapter in Debian's Chromium driven by
Playwright (never a downloaded browser). Full-page screenshots land in
``_build/screenshots/`` for a person to look at.

The reading path is what shows at 1280 px with every toggle closed (figure
code, collapsed cells, dropdowns): there each chapter must open with its
"In short" box, no code or output block may scroll sideways, and a chapter may
be at most ``MAX_READING_PX`` tall. The measured heights are written to
``_build/screenshots/reading_path.json``.
"""

import functools
import http.server
import json
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
# The numbered chapters each have figures and citations; the appendix has tables only.
NUMBERED = [p for p in CHAPTERS if re.match(r"notebooks/\d", p)]
# At 1280 px, the "In short" box must start within the first screen of the page's main content,
IN_SHORT_WITHIN_PX = 900
# and a chapter's reading path (every toggle closed) is at most about 14 screens.
MAX_READING_PX = 11_000


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
        assert code.is_visible(), f"{path}: toggle shows no code"
        if cell.query_selector_all(".cell_output img"):  # a figure's code draws it (tables may hide code too)
            assert re.search(r"plot|fig", code.inner_text()), f"{path}: a figure's toggle shows no plotting code"
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
        # author-year ("Smith and Topin, 2017", or the year of "Smith [2015]"), not a label like "[ST17]"
        text = a.text_content().strip()  # text_content: citations in a closed dropdown count too
        assert re.search(r"\b(19|20)\d\d[a-z]?$", text), f"{path}: citation {text!r} is not author-year"
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


CLOSE_TOGGLES = """() => {
    document.querySelectorAll('details[open]').forEach(d => d.removeAttribute('open'));
    document.querySelectorAll('.admonition.toggle:not(.toggle-hidden) > .admonition-title button.toggle-button')
        .forEach(b => b.click());
}"""
STILL_OPEN = """() => document.querySelectorAll('details[open], .admonition.toggle:not(.toggle-hidden)').length"""


def close_every_toggle(page):
    """Collapse every <details> (figure code, collapsed cells) and every dropdown admonition (sphinx-togglebutton)."""
    page.evaluate(CLOSE_TOGGLES)
    page.wait_for_timeout(100)
    assert not page.evaluate(STILL_OPEN), "a toggle would not close"


IN_SHORT = """() => {
    const main = document.querySelector('main');
    const box = [...main.querySelectorAll('.admonition')].find(a => {
        const title = a.querySelector('.admonition-title');
        return title && title.textContent.trim() === 'In short';
    });
    if (!box) return null;
    return {top: box.getBoundingClientRect().top - main.getBoundingClientRect().top,
            visible: box.checkVisibility() && box.innerText.trim().length > 'In short'.length,
            collapsed: box.classList.contains('toggle')};
}"""


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_opens_with_its_in_short_box(browser, site, path):
    page, _ = open_page(browser, site, path)
    close_every_toggle(page)
    box = page.evaluate(IN_SHORT)
    assert box, f"{path}: no 'In short' box"
    assert box["visible"] and not box["collapsed"], f"{path}: the 'In short' box is collapsed or empty"
    assert box["top"] <= IN_SHORT_WITHIN_PX, (
        f"{path}: the 'In short' box starts {box['top']:.0f} px below the top of the page's content "
        f"(at most {IN_SHORT_WITHIN_PX})")
    page.close()


SIDEWAYS = """() => {
    const main = document.querySelector('main');
    return [...main.querySelectorAll('pre, .pst-scrollable-table-container')]
        .filter(el => el.checkVisibility({visibilityProperty: true}) && el.scrollWidth > el.clientWidth + 1)
        .map(el => {
            const lines = el.innerText.split('\\n');
            const widest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
            const cell = el.closest('.cell');
            const where = !cell ? 'prose' : el.closest('.cell_output') ? 'output' : 'code';
            return {where, over: el.scrollWidth - el.clientWidth, chars: widest.length, widest: widest.slice(0, 90)};
        });
}"""


def sideways_blocks(page):
    """The visible code and output blocks (and tables) that scroll horizontally: what is cut off at the right."""
    return page.evaluate(SIDEWAYS)


def test_sideways_check_catches_a_wide_block(browser, site):
    """The horizontal-scroll check itself: a visible wide line is reported, a collapsed one is not."""
    probe = HTML / "_sideways_probe.html"
    wide = "x" * 300
    probe.write_text(f"<html><body><main style='width:600px'><pre style='overflow-x:auto'>{wide}</pre>"
                     f"<details><summary>more</summary><pre style='overflow-x:auto'>{wide}</pre></details>"
                     # a closed dropdown admonition hides its content with visibility: hidden, height 0
                     f"<div style='visibility:hidden;height:0'><pre style='overflow-x:auto'>{wide}</pre></div>"
                     "<pre>short</pre></main></body></html>")
    try:
        page, _ = open_page(browser, site, "_sideways_probe")
        found = sideways_blocks(page)
        assert [f["chars"] for f in found] == [300]
        page.close()
    finally:
        probe.unlink()


@pytest.mark.parametrize("path", PAGES)
def test_no_visible_code_or_output_scrolls_sideways(browser, site, path):
    page, _ = open_page(browser, site, path)
    close_every_toggle(page)
    found = sideways_blocks(page)
    page.close()
    assert not found, f"{path}: {len(found)} visible block(s) scroll sideways at 1280 px:\n" + "\n".join(
        f"  {f['where']}, {f['over']} px too wide, widest line {f['chars']} characters: {f['widest']!r}"
        for f in found)


READING_PATH = SHOTS / "reading_path.json"


@pytest.mark.parametrize("path", CHAPTERS)
def test_reading_path_fits(browser, site, path):
    page, _ = open_page(browser, site, path)
    close_every_toggle(page)
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.close()
    heights = json.loads(READING_PATH.read_text()) if READING_PATH.exists() else {}
    heights[path] = height
    READING_PATH.write_text(json.dumps(heights, indent=1) + "\n")
    assert height <= MAX_READING_PX, (
        f"{path}: the reading path is {height} px at 1280 px with every toggle closed "
        f"(at most {MAX_READING_PX}, {height - MAX_READING_PX} px too long)")


def test_chapters_are_numbered_in_order(browser, site):
    for number, path in enumerate(NUMBERED, start=1):
        page, _ = open_page(browser, site, path)
        title = page.inner_text("article h1").strip()  # main also holds a print-only h1
        page.close()
        assert title.startswith(f"{number}. "), f"{path}: title {title!r} is not numbered {number}"


def test_bibliography_is_labelled_author_year(browser, site):
    page, _ = open_page(browser, site, "bibliography")
    labels = [e.inner_text().strip("[] \n") for e in page.query_selector_all("main .citation .label, main dt.label")]
    page.close()
    assert labels, "no bibliography labels"
    for label in labels:
        assert re.fullmatch(r".+, (19|20)\d\d[a-z]?", label), f"bibliography label {label!r} is not author-year"
