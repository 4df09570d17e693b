"""`python -m loadgen.report`: read a results or MLPerf LoadGen log folder (the command lives in loadgen.cli.report)."""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("report")
