"""Map-reduce summarisation: summarise each paragraph of a stdlib docstring in parallel, then merge.

DAG (fork-join): one map call per chunk (stage 0; the fork comes before any call, so no priming
call: the branches share the prompt through the radix cache), one reduce call joining them all
(stage 1).
"""

from __future__ import annotations

import sglang as sgl

from programs.inputs import paragraphs, stdlib_doc

KIND = "map_reduce"
SHAPE = "len(chunks) maps -> reduce"


@sgl.function
def program(s, title, chunks, max_tokens=32):
    s += sgl.system(f"You summarise the documentation of {title}. Be brief and factual.")
    maps = s.fork(len(chunks))
    for branch, chunk in zip(maps, chunks, strict=True):
        branch += sgl.user("Summarise this passage in one sentence:\n" + chunk)
        branch += sgl.assistant(sgl.gen("summary", max_tokens=max_tokens, stop="\n"))
    notes = [branch["summary"] for branch in maps]
    maps.join()
    s += sgl.user("Combine these notes into a two-sentence overview:\n"
                  + "\n".join(f"- {note.strip()}" for note in notes))
    s += sgl.assistant(sgl.gen("overview", max_tokens=max_tokens * 2))


def default_args(module: str = "shelve", n_chunks: int = 3) -> dict:
    return {"title": f"Python's {module} module", "chunks": paragraphs(stdlib_doc(module), n_chunks)}
