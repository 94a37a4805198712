"""Glue for the book's prose, usable where myst-nb is not installed (Colab, plain JupyterLab)."""

try:
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - exercised on Colab
    _myst_glue = None


def glue(name, variable, display=True):
    """myst-nb's ``glue``, with NumPy scalars turned into Python numbers first: the book formats a glued
    value from its text, and ``np.float64(0.5)`` is not a number there. Without myst-nb (Colab, plain
    JupyterLab) there is no book to paste into: show the value if asked, else do nothing."""
    if hasattr(variable, "item") and getattr(variable, "shape", None) == ():
        variable = variable.item()
    if _myst_glue is not None:
        return _myst_glue(name, variable, display=display)
    if display:
        from IPython.display import display as show

        show(variable)


def markdown_table(rows, headers, digits=4):
    """A Markdown table (shown as a table in the notebook and the book) from rows of values.

    Floats are printed with ``digits`` decimals; NaN shows as an en dash.
    """
    from IPython.display import Markdown

    def fmt(value):
        if isinstance(value, float):
            return "–" if value != value else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def listing(items, empty="none"):
    """Items as prose: 'a', 'a and b', 'a, b and c'; ``empty`` for no items.

    For glued lists in the chapters' sentences, so that a changed verdict cannot leave "and" dangling.
    """
    items = [str(item) for item in items]
    if not items:
        return empty
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


VERDICT_ORDER = ("better", "equivalent", "undecided", "worse")


def verdict_sentence(verdicts, order=VERDICT_ORDER):
    """``{label: verdict}`` as one clause per verdict: 'A and B were better; C was undecided'.

    Verdicts come in ``order``; a verdict no label has is left out, so the sentence never says "none were".
    """
    unknown = sorted(set(verdicts.values()) - set(order))
    if unknown:
        raise ValueError(f"unknown verdict(s) {unknown}; expected some of {tuple(order)}")
    parts = []
    for verdict in order:
        labels = [label for label, v in verdicts.items() if v == verdict]
        if labels:
            parts.append(f"{listing(labels)} {'was' if len(labels) == 1 else 'were'} {verdict}")
    if not parts:
        raise ValueError("no verdicts to write a sentence from")
    return "; ".join(parts)
