"""Top-level ``custom_params`` on native ``/generate`` (HTTP process).

SGLang's ``/generate`` reads ``custom_params`` only inside ``sampling_params`` and silently drops
unknown top-level fields, while its own benchmark client (``python -m sglang.benchmark.serving
--backend sglang --extra-request-body ...``) and the OpenAI routes put ``custom_params`` at the top
level. So that no SLO is lost silently, this ASGI middleware moves a top-level ``custom_params`` into
``sampling_params`` (of every prompt of a batch) before SGLang parses the body; the same key given
in both places with different values is answered with HTTP 400. Every other request passes through
untouched.
"""

from __future__ import annotations

import json
from typing import Any

PATHS = ("/generate",)


class SLOPlacementError(ValueError):
    """Top-level and per-request custom_params contradict each other."""


def _merge(top: dict, params: dict) -> dict:
    inner = params.get("custom_params") or {}
    if not isinstance(inner, dict):
        raise SLOPlacementError("sampling_params.custom_params must be an object")
    for key, value in top.items():
        if key in inner and inner[key] != value:
            raise SLOPlacementError(f"custom_params.{key} given at the top level and in sampling_params "
                                    "with different values")
    return {**params, "custom_params": {**top, **inner}}


def move_custom_params(body: Any) -> Any:
    """The body with a top-level ``custom_params`` moved into ``sampling_params``."""
    if not isinstance(body, dict) or "custom_params" not in body:
        return body
    top = body.pop("custom_params")
    if top is None:
        return body
    if not isinstance(top, dict):
        raise SLOPlacementError("custom_params must be an object")
    params = body.get("sampling_params")
    if isinstance(params, list):
        body["sampling_params"] = [_merge(top, p or {}) for p in params]
    else:
        body["sampling_params"] = _merge(top, params or {})
    return body


class TopLevelCustomParams:
    """ASGI middleware applying `move_custom_params` to ``POST /generate`` bodies."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in PATHS:
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw) if raw else None
            if isinstance(body, dict) and "custom_params" in body:
                raw = json.dumps(move_custom_params(body)).encode()
        except SLOPlacementError as exc:
            return await _reply_400(send, str(exc))
        except ValueError:
            pass  # not JSON: SGLang answers it
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await self.app(dict(scope, headers=headers), replay, send)


async def _reply_400(send, message: str) -> None:
    payload = json.dumps({"error": {"message": f"invalid tempo request: {message}", "code": 400}}).encode()
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
