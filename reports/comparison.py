"""Text for repeated runs, comparisons and run plans: plain data in (aggregate.json,
the comparison report, the plan), lines out. Nothing here computes a statistic."""

from __future__ import annotations

from typing import Any

from loadgen.metrics.result import RunResult
from reports.summary import format_ns

EXIT_WORDS = {0: "VALID", 1: "error", 2: "usage error", 3: "INVALID", 130: "interrupted"}


def format_value(value: float | None, unit: str) -> str:
    """A figure in its unit for people: 1.234 ms, 1,955.5 samples/s, 0.9650, 0.0092 MiB."""
    if value is None:
        return "n/a"
    if unit == "ns":
        return format_ns(value) if value >= 0 else "-" + format_ns(-value)  # a t interval can reach below 0
    if unit == "samples/s":
        return f"{value:,.1f}/s"
    if unit == "MiB":
        return f"{value:.4g} MiB"
    return f"{value:.4f}"


def format_run_line(k: int, total: int, exit_code: int, result: RunResult | None, label: str | None = None) -> str:
    """'run 2/5: VALID, 90.0th percentile latency 1.141 ms' for the progress of repeated runs."""
    head = f"run {k}/{total}" + (f" ({label})" if label else "")
    status = EXIT_WORDS.get(exit_code, f"exit {exit_code}")
    metrics = result.metrics if result is not None else None
    if metrics is None or metrics.headline_value is None:
        return f"{head}: {status}"
    value = metrics.headline_value
    shown = format_ns(value) if metrics.headline_name.endswith("(ns)") else f"{value:,.2f}"
    return f"{head}: {status}, {metrics.headline_name.removesuffix(' (ns)')} {shown}"


def _interval(pair: list[float] | None, unit: str) -> str:
    return "n/a" if pair is None else f"[{format_value(pair[0], unit)}, {format_value(pair[1], unit)}]"


def _table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def render_aggregate(document: dict[str, Any]) -> str:
    """The per-figure table of repeated runs, the per-run percentile intervals, and the warnings."""
    statuses = [run["status"] for run in document["runs"]]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("VALID", "INVALID", "error", "missing") if s in statuses)
    lines = [f"{document['scenario']} runs of SUT {document['sut_name']!r}: {document['n_included']} used "
             f"of {len(statuses)} ({counts or 'none'})"]
    figures = document["figures"]
    if figures:
        rows = [["figure", "n", "median", "mean", "95% interval of the mean (Student t)", "CV"]]
        for name, f in figures.items():
            unit = f["unit"]
            cv = "n/a" if f["cv"] is None else f"{f['cv']:.1%}"
            rows.append([name, str(f["n"]), format_value(f["median"], unit), format_value(f["mean"], unit),
                         _interval(f["t_interval"], unit), cv])
        lines += _table(rows)
    intervals = {name: found for name, found in document["percentile_intervals"].items() if found}
    noun = "samples" if document["scenario"] == "Offline" else "queries"  # Offline's latencies are per sample
    if intervals:
        first = next(entry for found in intervals.values() for entry in found.values() if isinstance(entry, dict))
        lines.append(f"per-run latency percentiles, {first['level']:.0%} intervals by {first['method']} (they hold "
                     f"for correlated {noun}; runs are not pooled):")
        for name, found in intervals.items():
            lines.append(f"  {name} ({found['queries']:,} {noun}): " + "; ".join(
                _percentile(label, entry, noun) for label, entry in found.items() if label != "queries"))
            whys = [entry["why_none"] for entry in found.values() if isinstance(entry, dict) and "why_none" in entry]
            why = whys[0] if whys else None
            if why:
                lines.append(f"    {why}")
    lines += [f"warning: {text}" for text in document["warnings"]]
    return "\n".join(lines)


def _percentile(label: str, entry: dict[str, Any], noun: str) -> str:
    value = format_value(entry["value_ns"], "ns")
    if "why_none" in entry:
        return f"{label} {value} (no interval)"
    if "needs_queries" in entry:
        return f"{label} {value} (no interval: needs >= {entry['needs_queries']:,} {noun})"
    return f"{label} {value} [{format_value(entry['low_ns'], 'ns')}, {format_value(entry['high_ns'], 'ns')}]"


def _comparison_line(row: dict[str, Any]) -> list[str]:
    """'[primary] headline p90 latency: 1.190x slower [1.170, 1.211] (95%, Welch t on log run figures); ...'."""
    means = f"A {format_value(row['a_mean'], row['unit'])}, B {format_value(row['b_mean'], row['unit'])}"
    if row["p_value"] is None:
        return [f"  {row['metric']}: {row['summary']}; {means} -> {row['verdict']}"]
    family = f", Bonferroni x{row['family_size']}" if row["family_size"] > 1 else ""
    design = "pairs" if row["paired"] else "n"
    tests = (f"p={row['p_value']:.2g}{family}; equivalence p={row['p_equivalence']:.2g}; "
             f"Mann-Whitney p={row['p_mann_whitney']:.2g}; {design} {row['n_a']}/{row['n_b']}; CV {row['cv']:.1%}")
    lines = [f"  [{row['role']}] {row['metric']}: {row['summary']}; {means} ({tests}) -> {row['verdict']}"]
    if row["outlier_runs"]:
        robust = row["robust"]
        shown = (f"[{robust['ci_low']:.3f}, {robust['ci_high']:.3f}] ({robust['level']:.0%}, {robust['method']})"
                 if robust["ci_low"] is not None else f"({robust['why_none']})")
        lines.append(f"    warning: outlier runs {', '.join(row['outlier_runs'])}: the interval above may not hold; "
                     f"robust ratio {robust['ratio']:.3f} {shown}, a check beside the verdict, not its test")
    return lines


def render_comparison(report: dict[str, Any]) -> str:
    """The comparison for people: sides, one line per figure, normalized metrics, then the warnings."""
    lines = []
    for label in ("a", "b"):
        side = report[label]
        lines.append(f"{label.upper()}: {side['folder']}: {side['runs']} run(s) of {side['sut_name']!r}, "
                     f"{report['scenario']}, {side['mode']}")
    design = ("paired: A's run-k against its neighbour B's run-k (interleaved ABBA)" if report.get("paired")
              else "independent runs")
    primary = report.get("primary")
    rule = (f"{primary!r} is primary, tested alone at alpha {report['alpha']:g}; the other figures are secondary, "
            "Bonferroni-adjusted with simultaneous intervals" if primary else
            f"all figures one Bonferroni family at alpha {report['alpha']:g}, simultaneous intervals")
    lines.append(f"B against A, per figure (ratio > 1: B better, a ratio of geometric means; {design}; {rule}; "
                 f"equivalence margin {report['margin']:.0%}; each interval is the one its verdict uses):")
    for row in report["comparisons"]:
        lines += _comparison_line(row)
    lines += _normalized_lines(report["normalized"])
    normalization = report.get("normalization")
    if normalization:
        lines.append(f"normalized to the reference machine: A's machine score {normalization['a_score']:.3f}, "
                     f"B's {normalization['b_score']:.3f} (times x score, rates / score)")
        if normalization["a_score"] == normalization["b_score"]:
            lines.append("  the two scores are equal, so the ratios are unchanged; only the figures are rescaled")
        lines.append(f"  cannot correct: {normalization['cannot_correct']}")
    lines += [f"environment: {text}" for text in report["environment"]]
    lines += [f"noise: {text}" for text in report["noise"]]
    if report.get("output"):
        lines.append(f"results: {report['output']} (a/, b/, comparison.json)")
    return "\n".join(lines)


def _normalized_lines(block: dict[str, Any]) -> list[str]:
    """The course's normalized metrics, each with its formula, A the baseline and B the optimized."""
    lines = ["normalized metrics (A = baseline, B = optimized):"]
    for key in ("speedup", "compression_ratio", "accuracy_delta", "efficiency_score"):
        entry = block[key]
        value = entry["value"]
        if value is None:
            lines.append(f"  {entry['formula']}: n/a ({entry['why']})")
            continue
        shown = f"{value:+.4f}" if key == "accuracy_delta" else f"{value:.3f}"
        if key == "speedup" and entry.get("ci_low") is not None:
            shown += (f" [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}] ({entry['level']:.1%} {entry['method']}, "
                      f"the interval of {entry['from']}'s verdict: {entry['verdict']})").replace(".0% ", "% ")
        elif key == "speedup":
            shown += f" (from {entry['from']})"
        elif key == "compression_ratio":
            shown += f" ({entry['baseline_size_mb']:.4g} MiB -> {entry['optimized_size_mb']:.4g} MiB)"
        elif key == "accuracy_delta":
            shown += f" ({entry['baseline_accuracy']:.4f} -> {entry['optimized_accuracy']:.4f})"
        lines.append(f"  {entry['formula']} = {shown}")
    gated = block["gated_speedup"]
    flag = "FLAGGED: " if gated["flagged"] else ""
    lines.append(f"  accuracy-gated speedup: {flag}{gated['note']}")
    return lines


def render_plan(planned: dict[str, Any]) -> str:
    """Runs a side and queries a run, from a plan, each with its assumptions."""
    queries = ", ".join(f"p{float(p) * 100:g} {n:,}" for p, n in planned["queries_per_run"].items())
    return "\n".join([
        f"runs needed per side to detect a {planned['effect']:.1%} difference: {planned['runs_per_side']} "
        f"({planned['test']}, two-sided alpha {planned['alpha']:g}, power {planned['power']:g}, "
        f"CV {planned['cv']:.1%} {planned['cv_source']})",
        f"runs needed per side to show equivalence within {planned['margin']:.0%} when there is no true difference: "
        f"{planned['runs_per_side_equivalence']} (TOST at alpha {planned['alpha']:g}, power {planned['power']:g}, "
        f"same CV)",
        f"  rule of thumb for detection 15.7 x (CV / effect)^2 = {planned['rule_of_thumb']:.1f}",
        f"queries per run for a 95% batch-means interval on a latency percentile: {queries}",
    ])
