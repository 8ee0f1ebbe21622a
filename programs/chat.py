"""Multi-turn chat: three user turns about a HumanEval task, each answered by the model.

DAG: a chain, one call per turn (stages 0, 1, 2); no forks.
"""

from __future__ import annotations

import sglang as sgl

from programs.inputs import humaneval_task

KIND = "chat"
SHAPE = "chain of len(turns) calls"


@sgl.function
def program(s, turns, max_tokens=40):
    s += sgl.system("You are a helpful Python tutor. Answer in one or two short sentences.")
    for i, question in enumerate(turns):
        s += sgl.user(question)
        s += sgl.assistant(sgl.gen(f"answer_{i}", max_tokens=max_tokens))


def default_args(index: int = 0) -> dict:
    task_id, description, _ = humaneval_task(index)
    return {"turns": [f"A Python function should do this ({task_id}): {description} "
                      "What does it return?",
                      "Give one example input and the expected output.",
                      "Name one edge case worth testing."]}
