"""Statistics for honest comparisons: intervals, tests, planning, repeated-run figures, A vs B."""

__all__: list[str] = []
