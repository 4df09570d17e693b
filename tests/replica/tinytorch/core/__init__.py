"""Replica of `tinytorch.core`."""
