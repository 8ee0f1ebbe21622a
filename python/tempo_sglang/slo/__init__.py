"""Request SLO schema and validation (no SGLang import)."""

from tempo_sglang.slo.schema import (
    BEST_EFFORT,
    TEMPO_KEY,
    SLOClass,
    SLOValidationError,
    TempoSLO,
    parse_tempo_params,
    tempo_params_from_custom,
)

__all__ = [
    "BEST_EFFORT", "TEMPO_KEY", "SLOClass", "SLOValidationError", "TempoSLO", "parse_tempo_params",
    "tempo_params_from_custom",
]
