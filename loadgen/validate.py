"""`python -m loadgen.validate`: check a capstone submission.json and its evidence.

The command lives in loadgen.cli.validate; this module only starts it. The validator runs
inside folders someone else made, so the current folder leaves sys.path altogether (not only
moves to the end, as for the other commands): a `numpy.py` or `cpuinfo.py` there is never
imported, not even for a package missing from site-packages. Only the checkout this package
lives in (an uninstalled run from the repository) stays.
"""

if __name__ == "__main__":
    import os
    import sys

    here = {"", ".", os.getcwd()}
    own_checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [entry for entry in sys.path if entry not in here or os.path.abspath(entry or ".") == own_checkout]

    from loadgen.cli.entry import run_module

    run_module("validate")
