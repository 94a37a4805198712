"""Sphinx extension: emit each page script once.

Under Jupyter Book 1.x, sphinx-thebe registers its inline configuration
script twice, and the second copy fails in the browser with "Identifier
'THEBE_JS_URL' has already been declared" (tests/test_browser.py catches it).
"""


def _key(script):
    attributes = getattr(script, "attributes", {}) or {}
    # An inline script may come with filename None or "", depending on how it was registered.
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        seen = set()
        context["script_files"] = [s for s in scripts if not (_key(s) in seen or seen.add(_key(s)))]


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
