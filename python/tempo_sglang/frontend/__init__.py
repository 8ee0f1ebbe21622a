"""Agent-program frontend: a Tempo backend for ``sglang.lang`` and an openai-client helper.

- `TempoEndpoint`: SGLang's ``RuntimeEndpoint`` stamping program id, node id, parents, stage, kind
  and deadline on every ``/generate`` it posts;
- `run_program` / `run_program_batch` / `slo_program`: run ``@sgl.function`` programs with an SLO;
- `TempoProgram`: the same metadata for programs written with the openai client.

See docs/frontend.md.
"""

from tempo_sglang.frontend import hooks as _hooks
from tempo_sglang.frontend.api import SLOProgram, run_program, run_program_batch, slo_program
from tempo_sglang.frontend.context import Deadline, ProgramContext, current_program, program_scope
from tempo_sglang.frontend.endpoint import TempoEndpoint, program_of, recorded_dag
from tempo_sglang.frontend.openai_helper import TempoCall, TempoProgram

_hooks.install()

__all__ = [
    "Deadline", "ProgramContext", "SLOProgram", "TempoCall", "TempoEndpoint", "TempoProgram",
    "current_program", "program_of", "program_scope", "recorded_dag", "run_program", "run_program_batch", "slo_program",
]
