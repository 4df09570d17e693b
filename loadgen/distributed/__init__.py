"""Distributed load generation on Ray: one schedule split across worker actors, one merged trace.

`run_distributed` (loadgen.distributed.driver) is the entry; Ray is imported only when it runs.
"""
