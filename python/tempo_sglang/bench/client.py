"""An asynchronous streaming client for SGLang's native ``/generate`` that times every token.

Each call returns a `RequestRecord` (the same record the simulator produces), so live runs and
simulated runs go through the same metrics code. Errors never disappear: a request that failed
comes back with ``status="error"`` and the server's message.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tempo_sglang.core.views import RequestRecord
from tempo_sglang.slo import TempoSLO


@dataclass
class LiveRequest:
    """What to send: a prompt (text or token ids), an output budget and an SLO."""

    rid: str
    slo: TempoSLO
    max_new_tokens: int
    text: str | None = None
    input_ids: list[int] | None = None
    ignore_eos: bool = False
    program_start: float | None = None
    # Forced output length the scheduler must not see: the client stops reading (and SGLang aborts
    # the request) after this many tokens, while max_new_tokens stays a generous cap.
    stop_after: int | None = None
    extra_sampling: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        params: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "temperature": 0.0,
                                  "ignore_eos": self.ignore_eos, **self.extra_sampling}
        if not self.slo.is_best_effort:
            params["custom_params"] = {"tempo": self.slo.to_dict()}
        body: dict[str, Any] = {"sampling_params": params, "stream": True, "rid": self.rid}
        if self.input_ids is not None:
            body["input_ids"] = self.input_ids
        else:
            body["text"] = self.text or ""
        return body


@dataclass
class LiveResult:
    """A finished live request: its record for metrics plus what the server said."""

    record: RequestRecord
    text: str = ""
    meta_info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def tempo_view(self) -> dict[str, Any]:
        views = self.meta_info.get("tempo") or [{}]
        return views[-1]


_NO_COMPLETE_ROUTE: set[str] = set()  # servers without /tempo/complete (stock SGLang)


async def stop_as_complete(session: aiohttp.ClientSession, url: str, rid: str) -> None:
    """Stop a request whose output the client has in full: ``/tempo/complete`` on a Tempo server (the
    request ends as completed, so the server learns from it), else SGLang's ``/abort_request``."""
    timeout = aiohttp.ClientTimeout(total=30)
    if url not in _NO_COMPLETE_ROUTE:
        async with session.post(url + "/tempo/complete", json={"rid": rid}, timeout=timeout) as resp:
            if resp.status != 404:
                return
        _NO_COMPLETE_ROUTE.add(url)
    async with session.post(url + "/abort_request", json={"rid": rid}, timeout=timeout):
        pass


async def send_request(session: aiohttp.ClientSession, url: str, request: LiveRequest,
                       timeout: float = 600.0) -> LiveResult:
    """Send one streaming request and time each output token as it arrives."""
    arrival = time.time()
    token_times: list[float] = []
    meta: dict[str, Any] = {}
    text = ""
    prompt_len = len(request.input_ids) if request.input_ids is not None else 0
    error = None
    finished_early = False
    try:
        async with session.post(url + "/generate", json=request.body(),
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status != 200:
                error = f"HTTP {response.status}: {(await response.text())[:500]}"
            else:
                seen = 0
                async for raw in response.content:
                    line = raw.strip()
                    if not line.startswith(b"data: ") or line == b"data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if "error" in chunk:
                        error = str(chunk["error"].get("message", chunk["error"]))
                        break
                    now = time.time()
                    meta = chunk.get("meta_info", meta)
                    text = chunk.get("text", text)
                    total = int(meta.get("completion_tokens", seen))
                    token_times.extend([now] * max(0, total - seen))
                    seen = max(seen, total)
                    if request.stop_after is not None and seen >= request.stop_after:
                        del token_times[request.stop_after:]
                        finished_early = True
                        break
            if finished_early:  # closing the stream does not stop SGLang: stop the rest explicitly,
                await stop_as_complete(session, url, request.rid)  # before the close races it
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    prompt_len = int(meta.get("prompt_tokens", prompt_len))
    finish = meta.get("finish_reason") or {}
    status = "ok"
    if error is not None:
        status = "error"
    elif isinstance(finish, dict) and finish.get("type") == "abort" and not finished_early:
        status, error = "aborted", str(finish.get("message", "aborted"))
    view = (meta.get("tempo") or [{}])[-1]
    record = RequestRecord(
        rid=request.rid, slo=request.slo, arrival=arrival, prompt_len=prompt_len,
        output_len=len(token_times), token_times=token_times,
        finish_time=token_times[-1] if token_times and status == "ok" else None, status=status,
        demoted=bool(view.get("demoted", False)), program_start=request.program_start,
        cached_len=int(meta.get("cached_tokens", 0) or 0))
    return LiveResult(record=record, text=text, meta_info=meta, error=error)
