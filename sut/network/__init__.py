"""Systems under test over the network: model servers spoken to over HTTP.

    python -m loadgen.run --scenario server --sut sut.network \\
        --sut-arg url=http://127.0.0.1:8100 --set server_target_qps=500

`make_sut` is the `--sut sut.network` factory; the protocol follows from the URL's path
(`/v1/completions`, `/v1/chat/completions`, `/v2/models/NAME/infer`, else generic JSON)
unless `protocol=` says otherwise. Needs nothing beyond the standard library (its HTTP/1.1
client is `sut.network.http1`); `python -m sut.serve` needs the `serve` extra (aiohttp).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from loadgen.errors import SutLoadError

__all__ = ["make_sut"]


def _headers(headers: Any) -> dict[str, str]:
    """`headers` as given on the command line: a TOML table, or "Name: value" text."""
    if headers is None:
        return {}
    if isinstance(headers, dict):
        return {str(k): str(v) for k, v in headers.items()}
    if isinstance(headers, str) and ":" in headers:
        name, _, value = headers.partition(":")
        return {name.strip(): value.strip()}
    raise SutLoadError(f"headers={headers!r}: give a table ({{X-Name = \"value\"}}) or 'X-Name: value'")


def served_model(url: str, headers: dict[str, str], timeout_s: float) -> str:
    """The first model an OpenAI-compatible server lists at /v1/models (vLLM serves one)."""
    parts = urllib.parse.urlsplit(url)
    root = parts.path.split("/v1/")[0]
    listing = urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"{root}/v1/models", "", ""))
    request = urllib.request.Request(listing, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=min(timeout_s, 5.0)) as response:
            models = json.loads(response.read()).get("data") or []
        return str(models[0]["id"])
    except Exception as exc:  # any failure here means "say model= yourself"
        raise SutLoadError(
            f"model= not given and {listing} did not list one ({type(exc).__name__}); give model=NAME"
        ) from None


def make_sut(
    url: str,
    protocol: str = "auto",
    model: str | None = None,
    headers: Any = None,
    api_key_env: str | None = None,
    timeout_s: float = 5.0,
    max_in_flight: int = 128,
    dataset: str | None = None,
    samples: int = 256,
    prompt_words: int = 32,
    max_tokens: int = 128,
    stream: bool = True,
    extra_body: dict[str, Any] | None = None,
    input_name: str = "input",
) -> Any:
    """A network SUT for `url`. Options (all `--sut-arg KEY=VALUE`):

    protocol: auto (from the URL's path), json, openai-completions, openai-chat, kserve;
    headers: a TOML table of extra headers; api_key_env: the environment variable holding an
    API key, sent as `Authorization: Bearer` (never logged); timeout_s: per request (default 5 s,
    under the harness's sample_timeout_ms of 10 s, so a hung server fails samples as timeouts);
    max_in_flight: requests outstanding at most (the connection pool's size);
    dataset: a JSONL file of prompts (OpenAI protocols) or `tinydigits` (features for json and
    kserve, with labels for accuracy mode); samples / prompt_words: the generated prompts or
    indices when no dataset is given; model, max_tokens, stream, extra_body: the OpenAI
    request's fields; input_name: the KServe input tensor's name.
    """
    from sut.network.client import HttpClientSUT, Target, api_key_header
    from sut.network.protocols import PROTOCOLS, JsonProtocol, KServeProtocol, OpenAIProtocol, protocol_for_url
    from sut.network.samples import RequestQSL, sample_source

    chosen = protocol_for_url(urllib.parse.urlsplit(url).path) if protocol == "auto" else protocol
    if chosen not in PROTOCOLS:
        raise SutLoadError(f"protocol={protocol!r}: allowed: auto, {', '.join(PROTOCOLS)}")
    all_headers = {**_headers(headers), **api_key_header(api_key_env)}
    target = Target(url, all_headers)
    wire: JsonProtocol | KServeProtocol | OpenAIProtocol
    if chosen.startswith("openai"):
        name = model or served_model(url, all_headers, timeout_s)
        wire = OpenAIProtocol(chosen == "openai-chat", name, max_tokens, stream, extra_body)
    elif chosen == "kserve":
        wire = KServeProtocol(input_name)
    else:
        wire = JsonProtocol()
    source = sample_source(dataset, chosen, samples, prompt_words)
    qsl = RequestQSL(source, lambda sample: target.frame(wire.body(sample)))
    return HttpClientSUT(target, wire, qsl, timeout_s, max_in_flight, secrets=tuple(all_headers.values()))
