"""Replica of `tinytorch.perf` (modules 15 and 16)."""
