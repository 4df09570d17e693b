"""`python -m loadgen.validate`: check a capstone submission.json and its evidence.

The command lives in loadgen.cli.validate; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("validate")
