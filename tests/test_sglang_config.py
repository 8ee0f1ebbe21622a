"""Server configuration read from the environment: policy options reach the policy, typos stop start-up."""

from __future__ import annotations

import pytest

from tempo_sglang.core.registry import make_policy
from tempo_sglang.sglang.config import POLICY_OPTIONS_ENV, policy_options


def test_policy_options_reach_the_policy():
    options = policy_options({POLICY_OPTIONS_ENV: '{"step_choice": "tight", "be_share": 0.1}'})
    policy = make_policy("tempo", **options)
    assert policy.step_choice == "tight" and policy.be_share == 0.1


def test_no_options_is_an_empty_dict():
    assert policy_options({}) == {} and policy_options({POLICY_OPTIONS_ENV: "  "}) == {}


@pytest.mark.parametrize("raw", ['{"step_choice": ', '["tight"]', "tight"])
def test_malformed_options_are_refused(raw):
    with pytest.raises(ValueError, match=POLICY_OPTIONS_ENV):
        policy_options({POLICY_OPTIONS_ENV: raw})
