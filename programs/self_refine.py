"""Self-refine: draft a solution to a HumanEval task, then critique and rewrite it, ``rounds`` times.

DAG: a chain draft -> (feedback -> refine) x rounds: 1 + 2*rounds calls, one per stage.
"""

from __future__ import annotations

import sglang as sgl

from programs.inputs import humaneval_task

KIND = "self_refine"
SHAPE = "chain of 1 + 2*rounds calls"


@sgl.function
def program(s, prompt, rounds=2, max_tokens=48):
    s += sgl.system("You are a careful Python programmer.")
    s += sgl.user("Complete this function. Reply with code only.\n" + prompt)
    s += sgl.assistant(sgl.gen("draft", max_tokens=max_tokens))
    for r in range(rounds):
        s += sgl.user("Point out one concrete problem with your code, in one sentence.")
        s += sgl.assistant(sgl.gen(f"feedback_{r}", max_tokens=max_tokens // 2, stop="\n"))
        s += sgl.user("Rewrite the function to fix that problem. Reply with code only.")
        s += sgl.assistant(sgl.gen(f"refined_{r}", max_tokens=max_tokens))


def default_args(index: int = 2) -> dict:
    _, _, prompt = humaneval_task(index)
    return {"prompt": prompt}
