"""`python -m loadgen.leaderboard SUBMISSIONS_DIR`: rank capstone submissions (command: loadgen.cli.leaderboard)."""

if __name__ == "__main__":
    from loadgen.cli.entry import run_module

    run_module("leaderboard")
