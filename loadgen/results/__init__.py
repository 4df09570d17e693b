"""The results folder: writing it (trace, renderings, result.json with hashes) and reading it back."""

from loadgen.results.files import sha256_file
from loadgen.results.folder import default_output, write_outputs
from loadgen.results.reading import load_trace, read_result

__all__ = ["default_output", "load_trace", "read_result", "sha256_file", "write_outputs"]
