"""The real default model (SmolLM2-135M-Instruct) served with the Tempo plugin, via the openai client."""

from __future__ import annotations

import openai
import pytest

pytestmark = [pytest.mark.server, pytest.mark.slow]

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def default_server(start_server):
    from tempo_sglang.models import resolve_model

    return start_server("tempo", model_path=resolve_model("default"))


def test_default_model_answers_paris_with_and_without_slo(default_server):
    client = openai.OpenAI(base_url=default_server.url + "/v1", api_key="none")
    plain = client.chat.completions.create(model="default", messages=QUESTION, temperature=0, max_tokens=30)
    assert "Paris" in plain.choices[0].message.content
    with_slo = client.chat.completions.create(
        model="default", messages=QUESTION, temperature=0, max_tokens=30,
        extra_body={"custom_params": {"tempo": {"class": "latency", "ttft_ms": 10000, "tbt_ms": 2000}}})
    assert "Paris" in with_slo.choices[0].message.content


def test_invalid_slo_is_rejected_then_next_request_succeeds(default_server):
    client = openai.OpenAI(base_url=default_server.url + "/v1", api_key="none")
    with pytest.raises(openai.BadRequestError, match="tbt_ms"):
        client.chat.completions.create(
            model="default", messages=QUESTION, temperature=0, max_tokens=30,
            extra_body={"custom_params": {"tempo": {"class": "latency", "ttft_ms": 1000}}})
    again = client.chat.completions.create(
        model="default", messages=QUESTION, temperature=0, max_tokens=30,
        extra_body={"custom_params": {"tempo": {"class": "deadline", "deadline_ms": 60000}}})
    assert "Paris" in again.choices[0].message.content
