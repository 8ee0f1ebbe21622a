"""The SLO request schema: valid requests parse, bad ones name the offending field."""

import math

import pytest

from tempo_sglang.slo import SLOClass, SLOValidationError, parse_tempo_params


def test_none_is_best_effort():
    assert parse_tempo_params(None).slo_class is SLOClass.BEST_EFFORT


@pytest.mark.parametrize("params, cls", [
    ({"class": "latency", "ttft_ms": 500, "tbt_ms": 80}, SLOClass.LATENCY),
    ({"class": "deadline", "deadline_ms": 20000}, SLOClass.DEADLINE),
    ({"class": "program", "program_id": "p", "node_id": "n2", "parents": ["n1"], "deadline_ms": 6e4,
      "stage": 1}, SLOClass.PROGRAM),
    ({"class": "best_effort"}, SLOClass.BEST_EFFORT),
    ({"class": "deadline", "deadline_ms": 5000, "max_wait_ms": 1000}, SLOClass.DEADLINE),
])
def test_valid_round_trip(params, cls):
    slo = parse_tempo_params(params)
    assert slo.slo_class is cls
    assert parse_tempo_params(slo.to_dict()) == slo


@pytest.mark.parametrize("params, field", [
    ({"class": "latency", "ttft_ms": 500}, "tbt_ms"),
    ({"class": "latency", "ttft_ms": -1, "tbt_ms": 80}, "ttft_ms"),
    ({"class": "latency", "ttft_ms": math.inf, "tbt_ms": 80}, "ttft_ms"),
    ({"class": "latency", "ttft_ms": "fast", "tbt_ms": 80}, "ttft_ms"),
    ({"class": "latency", "ttft_ms": True, "tbt_ms": 80}, "ttft_ms"),
    ({"class": "deadline"}, "deadline_ms"),
    ({"class": "deadline", "deadline_ms": 1e12}, "deadline_ms"),
    ({"class": "deadline", "deadline_ms": 100, "ttft_ms": 5}, "ttft_ms"),
    ({"class": "deadline", "deadline_ms": 100, "max_wait_ms": 200}, "max_wait_ms"),
    ({"class": "urgent"}, "class"),
    ({"class": "best_effort", "colour": "red"}, "colour"),
    ({"class": "program", "node_id": "a", "deadline_ms": 100}, "program_id"),
    ({"class": "program", "program_id": "p", "node_id": "a", "deadline_ms": 100, "parents": ["a"]}, "parents"),
    ({"class": "program", "program_id": "p", "node_id": "a", "deadline_ms": 100, "parents": "b"}, "parents"),
    ({"class": "program", "program_id": "p", "node_id": "a", "deadline_ms": 100, "parents": ["b", "b"]},
     "parents"),
    ({"class": "program", "program_id": "p", "node_id": "a", "deadline_ms": 100, "stage": -1}, "stage"),
    ({"class": "program", "program_id": "", "node_id": "a", "deadline_ms": 100}, "program_id"),
])
def test_invalid_names_field(params, field):
    with pytest.raises(SLOValidationError) as info:
        parse_tempo_params(params)
    assert info.value.field == field
    assert field in str(info.value)


def test_not_a_dict():
    with pytest.raises(SLOValidationError):
        parse_tempo_params(["latency"])
