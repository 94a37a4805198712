"""Names a module re-exports from other nbsupport modules, imported on first use (PEP 562).

Code that moved to a module of its own keeps its old import path this way, without an import cycle (the new
module may import the old one) and without importing heavy modules early (``python -m nbsupport.grid``).
"""

import importlib
import sys


def lazy_reexports(module_name, sources):
    """``(__getattr__, __dir__)`` for the module ``module_name``: each name in ``sources``
    (``{submodule: names}``) is looked up in ``nbsupport.<submodule>`` when first asked for, and ``dir()``
    lists it with the module's own names."""
    where = {name: submodule for submodule, names in sources.items() for name in names}

    def __getattr__(name):
        if name in where:
            return getattr(importlib.import_module(f"{__package__}.{where[name]}"), name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[module_name])) | set(where))

    return __getattr__, __dir__
