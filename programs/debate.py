"""Multi-agent debate on an aphorism of the Zen of Python: two debaters argue for ``rounds``
rounds (in parallel within a round, each seeing the previous round), then a judge decides.

DAG: per round a fork into two debaters and a join (the next round's prime, or the verdict):
stages arguments, prime, arguments, verdict for two rounds (the first fork comes before any call:
no priming call there).
"""

from __future__ import annotations

import sglang as sgl

from programs.inputs import zen_of_python

KIND = "debate"
SHAPE = "rounds x (fork 2 -> join) -> verdict"
SIDES = ("Give one reason why this advice is right.", "Give one reason why this advice can be wrong.")


@sgl.function
def program(s, motion, rounds=2, max_tokens=32):
    s += sgl.system("You moderate a short debate between two Python programmers.")
    s += sgl.user(f'Motion: "{motion}" is good advice for writing Python.')
    for r in range(rounds):
        debaters = s.fork(len(SIDES))
        for side, debater in zip(SIDES, debaters, strict=True):
            debater += sgl.user(f"Round {r + 1}. {side} Answer in one sentence.")
            debater += sgl.assistant(sgl.gen("argument", max_tokens=max_tokens, stop="\n"))
        arguments = [d["argument"].strip() for d in debaters]
        debaters.join()
        s += sgl.user(f"Round {r + 1}. For: {arguments[0]} Against: {arguments[1]}")
    s += sgl.user("As the judge, say which side argued better and why, in one sentence.")
    s += sgl.assistant(sgl.gen("verdict", max_tokens=max_tokens))


def default_args(index: int = 2) -> dict:
    return {"motion": zen_of_python()[index % len(zen_of_python())]}
