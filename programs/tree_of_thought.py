"""Tree of thought for a HumanEval task: propose plans, expand each, rate them, write the best.

DAG: ``width`` plans (stage 0; the first fork comes before any call, so no priming call) -> per
plan a prime and ``width`` expansions (stages 1-2) -> per plan a rating ``select`` (a join of its expansions, itself a fork-join) ->
the final answer joining every branch.
"""

from __future__ import annotations

import sglang as sgl

from programs.inputs import humaneval_task

KIND = "tree_of_thought"
SHAPE = "two-level fork tree, joined per level"
VERDICTS = ["sure", "likely", "impossible"]


@sgl.function
def program(s, task, width=2, max_tokens=24):
    s += sgl.system("You solve programming tasks by planning before coding.")
    s += sgl.user("Task: " + task)
    plans = s.fork(width)
    for i, plan in enumerate(plans):
        plan += sgl.assistant(f"Approach {i + 1}: " + sgl.gen("plan", max_tokens=max_tokens, stop="\n\n"))
        steps = plan.fork(width)
        for j, step in enumerate(steps):
            step += sgl.user(f"Describe step {j + 1} of approach {i + 1} in one sentence.")
            step += sgl.assistant(sgl.gen("step", max_tokens=max_tokens, stop="\n\n"))
        details = [step["step"] for step in steps]
        steps.join()
        plan += sgl.user("Steps: " + " ".join(d.strip() for d in details)
                         + "\nWill this approach solve the task? Answer sure, likely or impossible.")
        plan += sgl.assistant(sgl.select("verdict", choices=VERDICTS))
    ranked = sorted(range(width), key=lambda i: VERDICTS.index(plans[i]["verdict"]))
    best = plans[ranked[0]]["plan"]
    plans.join()
    s += sgl.user(f"Use this approach: {best.strip()}\nWrite the Python function.")
    s += sgl.assistant(sgl.gen("code", max_tokens=max_tokens * 3))


def default_args(index: int = 4) -> dict:
    task_id, description, _ = humaneval_task(index)
    return {"task": f"{description} ({task_id})"}
