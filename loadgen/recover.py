"""`python -m loadgen.recover FOLDER`: rebuild the result of a run whose process died.

The command lives in loadgen.cli.recover; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("recover")
