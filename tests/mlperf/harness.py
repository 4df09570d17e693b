"""An MLPerf harness written only against the `mlperf_loadgen` API, as a LoadGen user writes one.

It runs under either engine: `python tests/mlperf/harness.py ENGINE SCENARIO MODE OUTDIR
[key=value ...]` with ENGINE `mlperf_loadgen` (the real LoadGen) or `loadgen.mlperf` (ours).
The SUT serves each sample after a fixed service time on a worker thread and answers with
the sample's row of a table, passed by address as LoadGen expects. With `tokens=1` it is an
LLM-like SUT: the row is read as 4 int32 tokens, the first reported by FirstTokenComplete, and
the run measures token latencies.
"""

from __future__ import annotations

import importlib
import os
import queue
import sys
import threading
import time
from typing import Any

import numpy as np

SAMPLES = 64


def run(lg: Any, scenario: str, mode: str, outdir: str, service_s: float, settings: dict[str, Any],
        tokens: bool = False) -> None:
    table = np.arange(SAMPLES * 4, dtype=np.int32 if tokens else np.float32).reshape(SAMPLES, 4)
    work: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()

    def serve() -> None:
        while (samples := work.get()) is not None:
            for sample in samples:
                time.sleep(service_s)
                row = table[sample.index]
                if tokens:
                    lg.FirstTokenComplete([lg.QuerySampleResponse(sample.id, row.ctypes.data, 4)])
                    time.sleep(service_s)
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, row.ctypes.data, row.nbytes, 4)])
                else:
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, row.ctypes.data, row.nbytes)])

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    sut = lg.ConstructSUT(lambda samples: work.put(list(samples)), lambda: None)
    qsl = lg.ConstructQSL(SAMPLES, SAMPLES, lambda indices: None, lambda indices: None)
    test_settings = lg.TestSettings()
    test_settings.scenario = getattr(lg.TestScenario, scenario)
    test_settings.mode = getattr(lg.TestMode, mode)
    test_settings.use_token_latencies = tokens
    for key, value in settings.items():
        setattr(test_settings, key, value)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = outdir
    log_settings.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, test_settings, log_settings)
    work.put(None)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    engine, scenario, mode, outdir, *pairs = sys.argv[1:]
    os.makedirs(outdir, exist_ok=True)
    values = dict(pair.split("=", 1) for pair in pairs)
    service = float(values.pop("service_s", "0.001"))
    tokens = values.pop("tokens", "0") == "1"
    run(importlib.import_module(engine), scenario, mode, outdir, service, {k: _value(v) for k, v in values.items()},
        tokens)
