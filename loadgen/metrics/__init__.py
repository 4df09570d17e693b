"""Every figure of a run from its trace, the validity verdict, and the result model (result.json)."""

from loadgen.metrics.figures import LatencySummary, Metrics, compute_metrics, percentile_label
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import Validity, judge

__all__ = ["LatencySummary", "Metrics", "RunResult", "Validity", "compute_metrics", "judge", "percentile_label"]
