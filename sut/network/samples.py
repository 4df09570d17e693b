"""What a network SUT sends: its QSL (indices, TinyDigits features, or prompts) and the
request bodies of the loaded samples, encoded at load time so encoding is never timed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.engine.query import IndexQSL, QuerySampleLibrary
from loadgen.errors import SutLoadError
from sut.network.protocols import Sample

WORDS = (
    "model", "server", "answers", "each", "request", "with", "tokens", "at", "its", "own", "pace",
    "while", "the", "load", "generator", "keeps", "arrivals", "open", "so", "queueing", "shows",
)


class PromptQSL:
    """Prompts for OpenAI-compatible servers: from a JSONL file, or generated.

    A JSONL line is a JSON string, or an object with `prompt` (or `text`) or chat `messages`,
    and optionally `max_tokens` for that sample. Generated prompts are `prompt_words`
    words drawn with a fixed seed, the same for every run."""

    def __init__(self, path: Path | None = None, samples: int = 256, prompt_words: int = 32) -> None:
        if path is not None:
            self.prompts, self.max_tokens = read_prompts(path)
            self.name = f"prompts({path.name}, {len(self.prompts)})"
        else:
            if samples < 1 or prompt_words < 1:
                raise SutLoadError(f"samples and prompt_words must be >= 1, got {samples} and {prompt_words}")
            rng = np.random.default_rng(0)
            self.prompts = [" ".join(rng.choice(WORDS, prompt_words)) for _ in range(samples)]
            self.max_tokens = [None] * samples
            self.name = f"generated prompts({samples} x {prompt_words} words)"
        self.total_sample_count = len(self.prompts)
        self.performance_sample_count = self.total_sample_count

    def sample(self, index: int) -> Sample:
        return Sample(index, prompt=self.prompts[index], max_tokens=self.max_tokens[index])

    def load_samples(self, indices: np.ndarray) -> None:
        """Prompts are held in memory from the start."""

    def unload_samples(self, indices: np.ndarray) -> None:
        """Nothing to free."""


def _prompt_of(document: Any, where: str) -> tuple[Any, int | None]:
    if isinstance(document, str):
        return document, None
    if not isinstance(document, dict):
        raise SutLoadError(f"{where}: expected a JSON string or object, got {type(document).__name__}")
    prompt = document.get("prompt", document.get("text", document.get("messages")))
    if not isinstance(prompt, (str, list)) or not prompt:
        raise SutLoadError(f"{where}: no 'prompt', 'text' or 'messages'")
    max_tokens = document.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise SutLoadError(f"{where}: max_tokens must be a whole number >= 1, got {max_tokens!r}")
    return prompt, max_tokens


def read_prompts(path: Path) -> tuple[list[Any], list[int | None]]:
    """The prompts of a JSONL file; errors name the file and line."""
    if not path.is_file():
        raise SutLoadError(f"dataset {path}: no such file")
    prompts: list[Any] = []
    max_tokens: list[int | None] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                document = json.loads(line)
            except ValueError as exc:
                raise SutLoadError(f"{where}: not JSON ({exc})") from None
            prompt, tokens = _prompt_of(document, where)
            prompts.append(prompt)
            max_tokens.append(tokens)
    if not prompts:
        raise SutLoadError(f"dataset {path}: no prompts")
    return prompts, max_tokens


class FeatureQSL:
    """An inner QSL's samples as requests: features when it has them (TinyDigits), else the index."""

    def __init__(self, inner: QuerySampleLibrary) -> None:
        self.inner = inner
        self.name = inner.name
        self.total_sample_count = inner.total_sample_count
        self.performance_sample_count = inner.performance_sample_count
        labels = getattr(inner, "labels", None)
        if labels is not None:
            self.labels = labels  # so accuracy mode scores the server's answers

    def sample(self, index: int) -> Sample:
        features = getattr(self.inner, "features", None)
        row = features[index] if isinstance(features, np.ndarray) and features.ndim > 1 else None
        return Sample(index, features=row)

    def load_samples(self, indices: np.ndarray) -> None:
        self.inner.load_samples(indices)

    def unload_samples(self, indices: np.ndarray) -> None:
        self.inner.unload_samples(indices)


def sample_source(dataset: str | None, protocol: str, samples: int, prompt_words: int) -> PromptQSL | FeatureQSL:
    """The QSL a network SUT draws its requests from: prompts for OpenAI protocols, TinyDigits
    features for `dataset=tinydigits`, else bare indices."""
    if protocol.startswith("openai"):
        return PromptQSL(Path(dataset) if dataset else None, samples, prompt_words)
    if dataset is None:
        return FeatureQSL(IndexQSL(samples))
    if dataset == "tinydigits":
        from sut.tinydigits import load_tinydigits
        from sut.tinytorch import DatasetQSL

        images, labels = load_tinydigits("test")
        return FeatureQSL(DatasetQSL((images.reshape(len(images), -1), labels), name="TinyDigits-test"))
    raise SutLoadError(f"dataset={dataset!r}: for the {protocol} protocol, allowed: tinydigits (or none: indices)")


class RequestQSL:
    """The SUT's QSL: loading a sample also encodes its request (body and HTTP head, by
    `encode`), so encoding is untimed and sending a sample costs one write."""

    def __init__(self, source: PromptQSL | FeatureQSL, encode: Callable[[Sample], bytes]) -> None:
        self.source = source
        self._encode = encode
        self.requests: dict[int, bytes] = {}
        self.name = source.name
        self.total_sample_count = source.total_sample_count
        self.performance_sample_count = source.performance_sample_count
        labels = getattr(source, "labels", None)
        if labels is not None:
            self.labels = labels

    def request(self, index: int) -> bytes:
        """The loaded sample's request (encoded now if the harness issues an unloaded one)."""
        request = self.requests.get(index)
        if request is None:
            request = self.requests[index] = self._encode(self.source.sample(index))
        return request

    def probe_request(self) -> bytes:
        """Sample 0's request, loaded just for this and unloaded again, for the start-up check."""
        first = np.zeros(1, dtype=np.int64)
        self.source.load_samples(first)
        try:
            return self._encode(self.source.sample(0))
        finally:
            self.source.unload_samples(first)

    def load_samples(self, indices: np.ndarray) -> None:
        self.source.load_samples(indices)
        for index in indices.tolist():
            self.requests[index] = self._encode(self.source.sample(index))

    def unload_samples(self, indices: np.ndarray) -> None:
        for index in indices.tolist():
            self.requests.pop(index, None)
        self.source.unload_samples(indices)
