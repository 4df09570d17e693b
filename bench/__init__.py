"""Side-by-side benchmark of this harness against MLPerf LoadGen (`mlperf_loadgen`).

`python -m bench.run` runs every measurement in a fresh child process per engine and
repetition (`bench.child`), alternating the engines, and prints ours, LoadGen's and the
ratio for each figure with the issue's targets (`bench.figures`).
"""
