"""LLM annotations through the `openai` client, against any OpenAI-compatible endpoint.

* Structured outputs: the pydantic schema goes into the request as a strict JSON schema (falling back to JSON mode
  where a server refuses schemas) and the answer is validated by the same schema; an answer that fails validation
  is asked again, then returned as a `NoAnnotation` carrying the raw text for the quarantine report.
* Bounded concurrency, an in-process rate limit (requests and tokens per minute), retries with exponential backoff
  and jitter on 429, 5xx, time-outs and dropped connections.
* A per-run account of requests, tokens and cost; a response cache keyed by (model, messages, schema, parameters).
* The Batch API path for large rebuilds: write the requests as a batch file, upload, create, poll, collect.
* The key is read from the environment variable the config names; it is never logged or written anywhere.

With no `base_url`, `LocalLlmServer` starts llama.cpp's server (xllamacpp) on 127.0.0.1 with a GGUF that registry
packages ship (`annotators.local_models`: Qwen2.5 1.5B or 0.5B Instruct, or Gemma 3 270M): answers follow the schema
(grammar-constrained).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from humansense.annotators.base import AnnotationCache, MissingExtra, NoAnnotation
from humansense.ids import digest


class LlmResult(BaseModel):
    status: Literal["ok"] = "ok"
    kind: Literal["llm"] = "llm"
    engine: str = "openai"
    model: str
    data: dict[str, Any]
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RateLimiter:
    """Sliding one-minute windows for requests and tokens, shared by all threads of a run."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.clock, self.sleep = clock, sleep
        self.events: deque[tuple[float, int]] = deque()
        self.lock = threading.Lock()

    def acquire(self, tokens: int) -> float:
        """Block until one more request of `tokens` fits; return the seconds waited."""
        waited = 0.0
        while True:
            with self.lock:
                now = self.clock()
                while self.events and now - self.events[0][0] >= 60:
                    self.events.popleft()
                used = sum(t for _, t in self.events)
                if len(self.events) < self.rpm and (used + tokens <= self.tpm or not self.events):
                    self.events.append((now, tokens))
                    return waited
                delay = max(0.01, 60 - (now - self.events[0][0]))
            self.sleep(delay)
            waited += delay


class LlmClient:
    def __init__(self, config, cache: AnnotationCache, base_url: str | None = None, client=None,
                 extra_body: dict | None = None):
        try:
            from openai import OpenAI
        except ImportError:
            raise MissingExtra("openai", "llm", "openai") from None
        self.cfg, self.cache = config, cache
        self.extra_body = extra_body  # a server's own request fields (the local server's `LOCAL_REQUEST`)
        self.base_url = base_url or config.base_url
        # The key is looked up, used and dropped; "not-needed" keeps local servers working without one.
        self.client = client or OpenAI(base_url=self.base_url, api_key=os.environ.get(config.api_key_env) or "not-needed",
                                       timeout=config.timeout_s, max_retries=0)
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.pool = threading.BoundedSemaphore(config.max_concurrency)
        self.lock = threading.Lock()
        self.account = {"model": config.model,  # the report says which model answered
                        "requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
                        "cache_hits": 0, "cached_failures": 0, "failures": 0, "schema_fallbacks": 0}
        self.json_schema_ok = True

    # -- helpers -------------------------------------------------------------------------------------------------

    def _messages(self, prompt: str, system: str | None) -> list[dict]:
        return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]

    def _response_format(self, schema: type[BaseModel]) -> dict:
        if self.json_schema_ok:
            return {"type": "json_schema", "json_schema": {"name": schema.__name__, "strict": True,
                                                           "schema": _strict(schema.model_json_schema())}}
        return {"type": "json_object"}

    def _body(self, messages: list[dict], schema: type[BaseModel]) -> dict:
        return {"model": self.cfg.model, "messages": messages, "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens, "response_format": self._response_format(schema)}

    def _count(self, **delta) -> None:
        with self.lock:
            for k, v in delta.items():
                self.account[k] += v

    def _cache_key(self, messages: list[dict], schema: type[BaseModel]) -> str:
        params = {"temperature": self.cfg.temperature, "max_tokens": self.cfg.max_tokens,
                  "schema": schema.model_json_schema()}
        if not self.cfg.base_url and self.cfg.local_threads != 2:
            # The packaged model's answers depend on llama.cpp's thread count (a rapport score: "pleasant" on one
            # thread, "neutral" on two); 2, what earlier answers were made with, stays out of their keys.
            params["threads"] = self.cfg.local_threads
        return self.cache.key("llm", "openai", self.cfg.model, params, digest(messages, length=40))

    def _record_usage(self, usage) -> tuple[int, int]:
        p, c = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        cost = p * self.cfg.price_input_per_1m / 1e6 + c * self.cfg.price_output_per_1m / 1e6
        self._count(requests=1, prompt_tokens=p, completion_tokens=c, cost_usd=cost)
        return p, c

    # -- one request ---------------------------------------------------------------------------------------------

    def structured(self, prompt: str, schema: type[BaseModel], system: str | None = None) -> LlmResult | NoAnnotation:
        import openai

        messages = self._messages(prompt, system)
        key = self._cache_key(messages, schema)
        hit = self.cache.get("llm", key)
        if hit is not None:
            self._count(cache_hits=1)
            return LlmResult.model_validate(hit)
        failed = self.cache.get("llm-failed", key)
        if failed is not None:  # a deterministic failure of this very request: asking again gives the same answer
            self._count(cached_failures=1)
            return NoAnnotation.model_validate(failed)
        estimate = (len(prompt) + len(system or "")) // 3 + self.cfg.max_tokens
        raw, reason, detail = None, "unavailable", ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                self._count(retries=1)
                time.sleep(min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** (attempt - 1))
                           * (0.5 + random.random()))
            self.limiter.acquire(estimate)
            body = self._body(messages, schema)
            try:
                with self.pool:
                    response = self.client.chat.completions.create(
                        **body, **({"extra_body": self.extra_body} if self.extra_body else {}))
            except openai.BadRequestError as e:
                if body["response_format"]["type"] == "json_schema" and "schema" in str(e).lower():
                    with self.lock:  # this server takes JSON mode only (requests in flight may also hear so)
                        if self.json_schema_ok:
                            self.json_schema_ok = False
                            self.account["schema_fallbacks"] += 1
                    continue
                reason, detail = "bad request", _safe(e, self.cfg.api_key_env)
                break
            except (openai.RateLimitError, openai.APIConnectionError) as e:  # APITimeoutError is a connection error
                reason = ("rate limited" if isinstance(e, openai.RateLimitError) else
                          "timed out" if isinstance(e, openai.APITimeoutError) else "connection failed")
                detail = _safe(e, self.cfg.api_key_env)
                continue
            except openai.APIStatusError as e:
                reason, detail = f"server error {e.status_code}", _safe(e, self.cfg.api_key_env)
                if e.status_code >= 500 or e.status_code == 408:
                    continue
                break
            p, c = self._record_usage(response.usage)
            raw = (response.choices[0].message.content or "") if response.choices else ""
            cut_short = bool(response.choices) and response.choices[0].finish_reason == "length"
            try:
                parsed = json.loads(_json_part(raw))
            except ValueError as e:  # not JSON: a garbled or truncated body may be the wire's fault, unless cut short
                reason, detail = "validation failed", str(e).splitlines()[0][:300]
                if self.cfg.temperature == 0 and cut_short:
                    break
                continue
            try:
                data = schema.model_validate(parsed)
            except ValidationError as e:
                reason, detail = "validation failed", str(e).splitlines()[0][:300]
                if self.cfg.temperature == 0:  # well-formed but wrong, by greedy decoding: a retry reads the same
                    break
                continue
            result = LlmResult(model=self.cfg.model, data=data.model_dump(mode="json"), raw=raw, prompt_tokens=p,
                               completion_tokens=c)
            self.cache.put("llm", key, result)
            return result
        self._count(failures=1)
        failure = NoAnnotation(kind="llm", engine="openai", reason=reason, detail=detail, raw=raw)
        if reason == "bad request" or (reason == "validation failed" and self.cfg.temperature == 0):
            # Deterministic: cached as a failure, so a rebuild does not pay for it again; a changed prompt, model,
            # schema or parameter is another key and is asked. Rate limits, time-outs and 5xx are never cached.
            self.cache.put("llm-failed", key, failure)
        return failure

    def map_structured(self, prompts: list[str], schema: type[BaseModel], system: str | None = None) -> list:
        with ThreadPoolExecutor(self.cfg.max_concurrency) as pool:
            return list(pool.map(lambda p: self.structured(p, schema, system), prompts))

    def structured_many(self, prompts: dict[str, str], schema: type[BaseModel],
                        system: str | None = None) -> dict[str, LlmResult | NoAnnotation]:
        """Many calls of one kind, as the build makes them: through the Batch API when `batch` is configured
        (cached answers are not sent again), else concurrently (at most `max_concurrency` at once, within the
        rate limits)."""
        if not prompts:
            return {}
        if self.cfg.batch:
            path = self.cache.root / "batches" / f"{digest(sorted(prompts.items()), schema.__name__, length=16)}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.write_batch(prompts, schema, path, system).stat().st_size:
                return self.collect_batch(self.submit_batch(path), prompts, schema, system,
                                          poll_s=self.cfg.batch_poll_s)
            return self.collect_cached(prompts, schema, system)
        ids = list(prompts)
        return dict(zip(ids, self.map_structured([prompts[i] for i in ids], schema, system)))

    # -- the Batch API -------------------------------------------------------------------------------------------

    def write_batch(self, prompts: dict[str, str], schema: type[BaseModel], path: Path,
                    system: str | None = None) -> Path:
        """Requests not already cached, as the Batch API's JSONL (custom_id = the caller's id)."""
        lines = []
        for custom_id, prompt in prompts.items():
            messages = self._messages(prompt, system)
            if self.cache.get("llm", self._cache_key(messages, schema)) is None:
                lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                                         "body": self._body(messages, schema)}))
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    def submit_batch(self, path: Path) -> str:
        with path.open("rb") as f:
            upload = self.client.files.create(file=f, purpose="batch")
        batch = self.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                           completion_window="24h")
        return batch.id

    def collect_cached(self, prompts: dict[str, str], schema: type[BaseModel], system: str | None = None) -> dict:
        """Answers that are all in the cache (nothing left to send)."""
        return {i: LlmResult.model_validate(self.cache.get("llm", self._cache_key(self._messages(p, system), schema)))
                for i, p in prompts.items()}

    def collect_batch(self, batch_id: str, prompts: dict[str, str], schema: type[BaseModel],
                      system: str | None = None, poll_s: float = 30.0, timeout_s: float = 86_400) -> dict:
        """Wait for the batch, then validate and cache each answer; cached prompts are answered from the cache."""
        deadline = time.monotonic() + timeout_s
        while True:
            batch = self.client.batches.retrieve(batch_id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} still {batch.status} after {timeout_s:g} s")
            time.sleep(poll_s)
        answers: dict[str, dict] = {}
        if batch.output_file_id:
            for line in self.client.files.content(batch.output_file_id).text.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    answers[rec["custom_id"]] = rec
        results = {}
        for custom_id, prompt in prompts.items():
            messages = self._messages(prompt, system)
            key = self._cache_key(messages, schema)
            hit = self.cache.get("llm", key)
            if hit is not None:
                results[custom_id] = LlmResult.model_validate(hit)
                continue
            rec = answers.get(custom_id)
            body = ((rec or {}).get("response") or {}).get("body") or {}
            if not body.get("choices"):
                results[custom_id] = NoAnnotation(kind="llm", engine="openai-batch", reason="no batch answer",
                                                  detail=json.dumps((rec or {}).get("error"))[:300])
                continue
            usage = body.get("usage") or {}
            p, c = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            self._count(requests=1, prompt_tokens=p, completion_tokens=c,
                        cost_usd=p * self.cfg.price_input_per_1m / 1e6 + c * self.cfg.price_output_per_1m / 1e6)
            raw = body["choices"][0]["message"].get("content") or ""
            try:
                data = schema.model_validate_json(_json_part(raw))
            except (ValidationError, ValueError) as e:
                results[custom_id] = NoAnnotation(kind="llm", engine="openai-batch", reason="validation failed",
                                                  detail=str(e).splitlines()[0][:300], raw=raw)
                continue
            result = LlmResult(model=self.cfg.model, data=data.model_dump(mode="json"), raw=raw, prompt_tokens=p,
                               completion_tokens=c)
            self.cache.put("llm", key, result)
            results[custom_id] = result
        return results


def _strict(schema: dict) -> dict:
    """OpenAI's strict mode wants every object closed and every property required."""
    schema = json.loads(json.dumps(schema))

    def visit(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(schema)
    return schema


def _json_part(raw: str) -> str:
    """The JSON object in an answer (small models sometimes wrap it in prose or code fences)."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end < start:
        raise ValueError(f"no JSON object in the answer: {raw[:120]!r}")
    return raw[start:end + 1]


def _safe(error: Exception, key_env: str = "OPENAI_API_KEY") -> str:
    """An error's first line, with the key masked should a server ever echo it."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    key = os.environ.get(key_env)
    return text.replace(key, "***") if key else text


# llama.cpp's server reuses the KV cache of the prompt it served before, so a prompt's answer depended on what that
# server had been asked earlier: the same transcript got another rapport answer from each Dask worker (2026-12-02).
# Every prompt is evaluated whole instead, so the answer is the prompt's alone.
LOCAL_REQUEST = {"cache_prompt": False}


class LocalLlmServer:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1 with a packaged model (`annotators.local_models`: no key, no
    internet) or a GGUF file; a model with a chat template gets its prompts through it (the server applies it)."""

    def __init__(self, model_dir: Path, model: str = "qwen2.5-1.5b", n_ctx: int = 4096, threads: int = 2):
        self.model_dir, self.model, self.n_ctx, self.threads = Path(model_dir), model, n_ctx, threads
        self.server = None
        self.base_url = None

    def model_path(self) -> Path:
        from humansense.annotators.local_models import model_file

        return model_file(self.model, self.model_dir)

    def __enter__(self) -> LocalLlmServer:
        try:
            import xllamacpp
        except ImportError:
            raise MissingExtra("local LLM", "llm", "xllamacpp") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path())
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            params.port = s.getsockname()[1]
        params.hostnames = ["127.0.0.1"] if isinstance(params.hostnames, list) else "127.0.0.1"
        self.server = xllamacpp.Server(params)
        self.base_url = f"http://127.0.0.1:{params.port}/v1"
        logging.getLogger(__name__).info("local LLM %s (%s) serving on 127.0.0.1:%d", self.model,
                                         Path(params.model.path).name, params.port)
        return self

    def __exit__(self, *exc) -> None:
        self.server = None  # the server stops when the object is released


class Translation(BaseModel):
    translation: str


def translation_prompt(text: str, target_language: str = "English",
                       source_language: str = "Chinese") -> tuple[str, str]:
    """(prompt, system) asking for a faithful translation that keeps placeholders."""
    system = (f"You translate {source_language} into natural, faithful {target_language}. Keep names, numbers and "
              f"placeholders such as XXX, NAME, PHONE unchanged. Answer with the translation only.")
    return f"Translate into {target_language}:\n{text}", system


def translate(client: LlmClient, text: str, target_language: str = "English",
              source_language: str = "Chinese") -> LlmResult | NoAnnotation:
    """Translate a source text (the fraud and counselling corpora are Chinese) for speech synthesis; the caller
    keeps the original on the item beside the translation."""
    return translate_many(client, [text], target_language, source_language)[text]


def translate_many(client: LlmClient, texts: list[str], target_language: str = "English",
                   source_language: str = "Chinese") -> dict[str, LlmResult | NoAnnotation]:
    """`translate` for many texts at once (concurrently, or through the Batch API when configured)."""
    out = {t: NoAnnotation(kind="llm", engine="openai", reason="empty text", detail="nothing to translate")
           for t in texts if not t.strip()}
    system = translation_prompt("", target_language, source_language)[1]
    prompts = {t: translation_prompt(t, target_language, source_language)[0] for t in texts if t.strip()}
    return out | client.structured_many(prompts, Translation, system=system)


class BlindAnswer(BaseModel):
    answer: str


def blind_answerer(client: LlmClient) -> Callable:
    """A text-only answerer for the bias audit: the question and options, never the media."""

    def answer(question: str, options: list[tuple[str, str]], kind: str) -> str | None:
        lines = "\n".join(f"{letter}. {text}" for letter, text in options)
        how = "all correct letters, e.g. AC" if kind == "multi" else "one letter"
        result = client.structured(f"{question}\n{lines}\nAnswer with {how}, as {{\"answer\": ...}}.", BlindAnswer,
                                   system="Answer the multiple-choice question as well as you can.")
        if result.status != "ok":
            return None
        letters = "".join(ch for ch in result.data["answer"].upper() if ch in {l for l, _ in options})
        return letters or None

    return answer
