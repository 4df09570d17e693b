"""An LLM-like SUT with token output, honest or built to cheat one compliance rule.

Each sample's output is `LENGTH` int32 tokens ending in one EOS (2); the first is reported
with samples.first_token(ids, tokens=...) before the rest, and the sample completes with the
whole output as its response and its token count. `cheat` picks the rule broken:

  first_token  reports a placeholder first token, not the output's (TEST06)
  eos          pads every output with extra EOS tokens (TEST06)
  count        reports one token more than it returns (TEST06)
  truncate     returns 2 tokens instead of LENGTH, to look fast (TEST09)
  guess        answers a constant class for every other sample instead of computing it (TEST07)

Its QSL has labels: a sample's class is its index mod 10, and the honest answer's first token
is that class (so top-1 scoring reads the class from a one-token-wide answer: see `answer`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loadgen.engine.query import IndexQSL

EOS = 2
LENGTH = 6


class LabelledQSL(IndexQSL):
    """Index-only samples whose label is index mod 10."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.labels = np.arange(total) % 10


class TokenSUT:
    def __init__(self, cheat: str = "", samples: int = 64, answer: str = "tokens") -> None:
        self.name = f"TokenSUT({cheat or 'honest'})"
        self.cheat = cheat
        self.answer = answer
        self.qsl = LabelledQSL(int(samples))
        self.issued = 0

    def output(self, index: int) -> np.ndarray:
        label = index % 10
        if self.answer == "class":  # a classifier: one value, the class
            wrong = self.cheat == "guess" and self.issued % 2 == 0
            return np.array([0 if wrong else label], dtype=np.int32)
        body = [label + 10, *range(20, 20 + LENGTH - 2), EOS]
        if self.cheat == "truncate":
            body = [label + 10, EOS]
        if self.cheat == "eos":
            body = [*body, EOS, EOS]
        return np.array(body, dtype=np.int32)

    def issue_query(self, samples: Any) -> None:
        for sample_id, index in samples:
            self.issued += 1
            tokens = self.output(index)
            first = np.array([999], dtype=np.int32) if self.cheat == "first_token" else tokens[:1]
            if getattr(samples, "first_token", None) is not None:
                try:
                    samples.first_token([sample_id], tokens=[first])
                except TypeError:  # the engine's own batch takes ids only
                    samples.first_token([sample_id])
            count = len(tokens) + (1 if self.cheat == "count" else 0)
            samples.complete([sample_id], responses=[tokens], n_tokens=[count])

    def flush_queries(self) -> None:
        pass
