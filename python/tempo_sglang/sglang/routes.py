"""Tempo's extra HTTP routes on SGLang's FastAPI app (main process).

- ``GET /tempo/info``: the policy the server runs and the plugin's version;
- ``GET /tempo/programs/{program_id}``: the DAG the server recorded for a program (when the program
  registry of `tempo_sglang.sglang.program_intake` is installed);
- a middleware that accepts ``custom_params`` at the top level of native ``/generate``
  (`tempo_sglang.sglang.generate_body`).
"""

from __future__ import annotations

import importlib.util

from tempo_sglang import __version__
from tempo_sglang.sglang.config import enabled_policy

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

    if importlib.util.find_spec("tempo_sglang.sglang.program_intake") is not None:
        from tempo_sglang.sglang import program_intake

        @app.get("/tempo/programs/{program_id}")
        async def tempo_program(program_id: str):
            dag = program_intake.describe(program_id)
            if dag is None:
                return JSONResponse({"error": {"message": f"unknown program id {program_id!r}"}},
                                    status_code=404)
            return dag
