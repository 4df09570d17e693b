"""`python -m loadgen.compare`: compare two results, or two SUTs run interleaved, figure by figure.

The command lives in loadgen.cli.compare; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("compare")
