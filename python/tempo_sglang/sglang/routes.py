"""Tempo's extra HTTP routes on SGLang's FastAPI app (main process).

- ``GET /tempo/info``: the policy the server runs and the plugin's version;
- ``GET /tempo/programs/{program_id}``: the DAG the server recorded for a program (when the program
  registry of `tempo_sglang.sglang.program_intake` is installed);
- ``POST /tempo/complete`` ``{"rid": ...}``: the client has all the output it wants; the request is
  stopped like ``/abort_request`` but ends as *completed*, so the analyzer learns its length and its
  program's graph from it (a benchmark that forces recorded output lengths stops every call this way;
  as failures, nothing would be learned from them);
- a middleware that accepts ``custom_params`` at the top level of native ``/generate``
  (`tempo_sglang.sglang.generate_body`).
"""

from __future__ import annotations

import importlib.util

from tempo_sglang import __version__
from tempo_sglang.sglang.config import enabled_policy
from tempo_sglang.sglang.request_state import CLIENT_COMPLETE

_INSTALLED = False


def install(app) -> None:
    """Register the routes once on ``app`` (a FastAPI application)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    from fastapi.responses import JSONResponse

    from tempo_sglang.sglang.generate_body import TopLevelCustomParams

    app.add_middleware(TopLevelCustomParams)

    @app.get("/tempo/info")
    async def tempo_info():
        return {"policy": enabled_policy(), "version": __version__}

    @app.post("/tempo/complete")
    async def tempo_complete(body: dict):
        rid = body.get("rid") if isinstance(body, dict) else None
        if not isinstance(rid, str) or not rid:
            return JSONResponse({"error": {"message": "body must be {\"rid\": \"<request id>\"}"}}, status_code=400)
        return {"rid": rid, "stopped": stop_as_complete(rid)}

    if importlib.util.find_spec("tempo_sglang.sglang.program_intake") is not None:
        from tempo_sglang.sglang import program_intake

        @app.get("/tempo/programs/{program_id}")
        async def tempo_program(program_id: str):
            dag = program_intake.describe(program_id)
            if dag is None:
                return JSONResponse({"error": {"message": f"unknown program id {program_id!r}"}},
                                    status_code=404)
            return dag


def stop_as_complete(rid: str) -> bool:
    """Send the scheduler an abort of ``rid`` marked `CLIENT_COMPLETE` (False: no such live request)."""
    import sglang.srt.entrypoints.http_server as http_server
    from sglang.srt.managers.io_struct import AbortReq

    manager = http_server._global_state.tokenizer_manager
    state = manager.rid_to_state.get(rid)
    if state is None or state.abort_sent:
        return False
    state.abort_sent = True
    manager._dispatch_to_scheduler(AbortReq(rid=rid, abort_message=CLIENT_COMPLETE))
    return True
