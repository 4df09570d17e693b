"""The harness's own top-level packages (`reports`, `sut`), found even where a
module of the user's has the same name.

A harness folder often holds a `sut.py` or a `reports.py`, and Python looks in the script's
folder first, so `import reports.summary` would find the user's file and fail ("'reports'
is not a package"). Before the drop-in API or a command imports from these packages,
`claim` loads the harness's own package from beside `loadgen/` with its submodules, then
gives the bare name back to whatever held it: the user's own `import reports` still gets
the user's module, and the harness's `reports.summary` is already loaded under its name.
Standard library only; nothing happens when nothing is shadowed.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
"""Where loadgen/ and its sibling packages are installed."""


def _is_ours(module: ModuleType, home: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().parent == home


def shadowed(name: str) -> bool:
    """Whether `import name` would not reach the harness's own package of that name."""
    home = ROOT / name
    current = sys.modules.get(name)
    if current is not None:
        return not _is_ours(current, home)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return True
    return spec is None or spec.origin is None or Path(spec.origin).resolve().parent != home


def claim(*names: str) -> None:
    """Load each shadowed package of ours, and its submodules, under their own names."""
    for name in names:
        if shadowed(name):
            _load_beside(name)


def _load_beside(name: str) -> None:
    home = ROOT / name
    spec = importlib.util.spec_from_file_location(name, home / "__init__.py", submodule_search_locations=[str(home)])
    if spec is None or spec.loader is None:
        return
    previous = sys.modules.get(name)
    ours = importlib.util.module_from_spec(spec)
    sys.modules[name] = ours
    try:
        spec.loader.exec_module(ours)
        for info in pkgutil.iter_modules([str(home)]):
            if not info.ispkg:
                try:
                    importlib.import_module(f"{name}.{info.name}")
                except ModuleNotFoundError as exc:  # a module of an extra not installed (sut.serve: aiohttp)
                    if (exc.name or "").partition(".")[0] == name:
                        raise
    finally:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
