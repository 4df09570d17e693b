"""`python -m loadgen.machine_score`: time the reference workload: this machine's score.

The command lives in loadgen.cli.machine_score; this module only starts it.
"""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("machine_score")
