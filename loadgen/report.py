"""`python -m loadgen.report`: read a results folder or an MLPerf LoadGen log folder.

The command lives in loadgen.cli.report; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("report")
