"""Agent-program frontend: a Tempo backend for sglang.lang and an openai-client helper."""
