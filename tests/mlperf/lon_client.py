"""The LoadGen node of LoadGen's LoadGen-over-the-network demo, rebuilt in the same shape.

A QSL of text features, and a QDL (`ConstructQDL(issue, flush, get_name)`) that forwards
each query to the SUT server(s) over HTTP in round robin on a thread of its own and
completes the samples with the server's answers. Only the import differs between
engines: `python lon_client.py ENGINE OUTDIR URL[,URL...] [min_duration_ms] [target_qps]`
with ENGINE `mlperf_loadgen` or `loadgen.mlperf`, and optionally min_duration_ms,
target_qps and target_latency_ms (the demo's 10000, 100 and 100 by default).
"""

from __future__ import annotations

import array
import importlib
import sys
import threading
import time
from typing import Any

import requests

lg: Any = None


class QSL:
    """The demo's QSL: dummy text features by sample index."""

    def __init__(self, total_sample_count: int, performance_sample_count: int) -> None:
        self.eval_features = {i: f"what_is_my_dummy_feature_{i}?" for i in range(total_sample_count)}
        self.qsl = lg.ConstructQSL(
            total_sample_count, performance_sample_count, self.load_samples_to_ram, self.unload_samples_from_ram
        )

    def get_features(self, sample_id: int) -> str:
        return self.eval_features[sample_id]

    def load_samples_to_ram(self, query_samples: Any) -> None:
        del query_samples

    def unload_samples_from_ram(self, query_samples: Any) -> None:
        del query_samples

    def __del__(self) -> None:
        lg.DestroyQSL(self.qsl)


class QDL:
    """The demo's QDL: a proxy to the SUT server(s), /predict/ and /getname/."""

    def __init__(self, qsl: QSL, sut_server_addr: list[str]) -> None:
        self.qsl = qsl
        self.qdl = lg.ConstructQDL(self.issue_query, self.flush_queries, self.client_get_name)
        self.sut_server_addr = sut_server_addr
        self.num_nodes = len(sut_server_addr)
        self.next_sut_id = 0
        self.lock = threading.Lock()

    def issue_query(self, query_samples: Any) -> None:
        threading.Thread(target=self.process_query_async, args=[query_samples]).start()

    def flush_queries(self) -> None:
        pass

    def process_query_async(self, query_samples: Any) -> None:
        responses = []
        for s in query_samples:
            features = self.qsl.get_features(s.index)
            time.sleep(0.001)  # the demo: a maximal rate of queries to the SUT
            sut_result = self.client_predict(features, s.index)
            response_array = array.array("B", sut_result.encode("utf-8"))
            bi = response_array.buffer_info()
            responses.append(lg.QuerySampleResponse(s.id, bi[0], bi[1]))
        lg.QuerySamplesComplete(responses)

    def get_sut_id_round_robin(self) -> int:
        with self.lock:
            res = self.next_sut_id
            self.next_sut_id = (self.next_sut_id + 1) % self.num_nodes
        return res

    def client_predict(self, query: str, id: int) -> str:
        url = f"{self.sut_server_addr[self.get_sut_id_round_robin()]}/predict/"
        response = requests.post(url, json={"query": query, id: id})  # type: ignore[dict-item]  # as the demo sends it
        return response.json()["result"]

    def client_get_name(self) -> str:
        if len(self.sut_server_addr) == 1:
            return requests.post(f"{self.sut_server_addr[0]}/getname/").json()["name"]
        names = [requests.post(f"{addr}/getname/").json()["name"] for addr in self.sut_server_addr]
        return "Multi-node SUT: " + ", ".join(names)

    def __del__(self) -> None:
        lg.DestroyQDL(self.qdl)


def main(argv: list[str]) -> None:
    outdir, servers = argv[0], argv[1].split(",")
    min_duration_ms = int(argv[2]) if len(argv) > 2 else 10000
    target_qps = float(argv[3]) if len(argv) > 3 else 100
    target_latency_ns = int(float(argv[4]) * 1e6) if len(argv) > 4 else 100000000
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Server
    settings.mode = lg.TestMode.PerformanceOnly
    settings.server_target_qps = target_qps
    settings.server_target_latency_ns = target_latency_ns
    settings.min_query_count = 100
    settings.min_duration_ms = min_duration_ms

    qsl = QSL(1024, 128)
    qdl = QDL(qsl, sut_server_addr=servers)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = outdir
    log_settings.enable_trace = False
    lg.StartTestWithLogSettings(qdl.qdl, qsl.qsl, settings, log_settings)


if __name__ == "__main__":
    lg = importlib.import_module(sys.argv[1])
    main(sys.argv[2:])
