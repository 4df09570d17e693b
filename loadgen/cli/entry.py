"""Starting a command: the harness's own packages before the user's folder, then the command's main.

`python -m loadgen.X` puts the current folder first on sys.path, so a user's `sut.py`,
`reports.py` or `numpy.py` there (common names in MLPerf harnesses) would shadow the
harness's packages or its dependencies. Before anything else is imported, the current
folder moves behind site-packages, and the harness's own top-level packages are claimed
(loadgen.own_packages) so an editable install resolves them too. The user's own modules stay
importable by name. This module imports nothing outside the standard library.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable


def own_packages_first(path: list[str] | None = None) -> None:
    """Move the current folder ('' or its absolute path) from the front of sys.path to the end."""
    entries = sys.path if path is None else path
    here = {"", ".", os.getcwd()}
    moved = [entry for entry in entries if entry in here]
    entries[:] = [entry for entry in entries if entry not in here] + moved


def run_module(name: str) -> None:
    """`python -m loadgen.<name>`: the command's main from loadgen.cli.<name>, with the one exit path."""
    own_packages_first()
    importlib.import_module("loadgen.own_packages").claim("sut", "reports")
    module = importlib.import_module(f"loadgen.cli.{name}")
    main: Callable[[], int] = module.main
    common = importlib.import_module("loadgen.cli.common")
    common.run_command(main)
