"""tempo-sglang: SLO-aware LLM serving (Tempo's scheduler inside SGLang)."""

__version__ = "0.1.0"
