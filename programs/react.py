"""ReAct: answer a question about the Python standard library with a tool loop.

Tools are local: ``lookup[name]`` returns the first lines of a stdlib docstring (the real one,
read with ``inspect``), ``calculate[expr]`` evaluates arithmetic safely. Each step is a thought
(``gen``), an action (``select`` among the tools; ``finish`` allowed after ``min_steps``) and its
argument, then the tool's observation; the answer closes the loop.

DAG: a chain of thought calls; each ``select`` is a fork-join in the DAG (a priming call, one
scoring call per choice, and the next call joins them).
"""

from __future__ import annotations

import ast
import operator

import sglang as sgl

from programs.inputs import stdlib_doc

KIND = "react"
SHAPE = "chain with a fork-join per select"

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv,
        ast.USub: operator.neg, ast.UAdd: operator.pos}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression (numbers and + - * / // % **) without ``eval``."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            right = walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError("exponent too large")
            return _OPS[type(node.op)](walk(node.left), right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise ValueError("not arithmetic")

    try:
        return str(walk(ast.parse(expression.strip(), mode="eval")))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as exc:
        return f"error: {exc}"


def lookup(name: str) -> str:
    """The first two lines of the docstring of ``name`` (a stdlib module or module.attribute)."""
    try:
        doc = stdlib_doc(name.strip())
    except (ImportError, AttributeError, ValueError):
        return f"no documentation found for {name!r}"
    return " ".join(doc.splitlines()[:2]) or f"{name} has no docstring"


SYSTEM = ("Answer the question using tools. Tools: lookup[name] shows the documentation of a Python "
          "function; calculate[expression] does arithmetic; finish ends the search.\n"
          "Example.\nQuestion: What does os.getcwd do?\n"
          "Thought 1: I should read the documentation of os.getcwd.\nAction 1: lookup[os.getcwd]\n"
          "Observation 1: Return a unicode string representing the current working directory.\n"
          "Thought 2: I know the answer.\nAction 2: finish\n"
          "Answer: os.getcwd returns the current working directory as a string.")


@sgl.function
def program(s, question, names, max_steps=2, min_steps=1, max_tokens=24):
    s += sgl.system(SYSTEM)
    s += sgl.user(question)
    s += sgl.assistant_begin()
    for step in range(max_steps):
        s += f"Thought {step + 1}: " + sgl.gen(f"thought_{step}", max_tokens=max_tokens,
                                                 stop=["Action", "\n\n"]) + "\n"
        tools = ["lookup", "calculate"] + (["finish"] if step >= min_steps else [])
        s += f"Action {step + 1}: " + sgl.select(f"action_{step}", choices=tools)
        action = s[f"action_{step}"]
        if action == "finish":
            s += "\n"
            break
        if action == "lookup":
            s += "[" + sgl.select(f"arg_{step}", choices=list(names)) + "]\n"
            observation = lookup(s[f"arg_{step}"])
        else:
            s += "[" + sgl.gen(f"arg_{step}", max_tokens=12, stop=["]", "\n"]) + "]\n"
            observation = calculate(s[f"arg_{step}"])
        s += f"Observation {step + 1}: {observation}\n"
    s += "Answer: " + sgl.gen("answer", max_tokens=max_tokens * 2, stop="\n\n")
    s += sgl.assistant_end()


def default_args(index: int = 0) -> dict:
    cases = [("What does textwrap.dedent do?", ["textwrap.dedent", "textwrap.indent", "os.path.join"]),
             ("What does math.gcd compute, and what is 84 divided by 12?", ["math.gcd", "math.lcm"]),
             ("What does os.path.join return?", ["os.path.join", "os.path.split", "json.dumps"])]
    question, names = cases[index % len(cases)]
    return {"question": question, "names": names}
