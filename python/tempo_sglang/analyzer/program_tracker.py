"""Server-side program tracker: the partial DAG of every running agent program.

Each call of a program arrives with ``program_id``, ``node_id`` and ``parents``. A parent must be a call
of the same program seen earlier (a call depends on its parents' outputs, so they were sent first); this
rule alone keeps every graph acyclic, and violations are reported as `ProgramGraphError` (a
``ValueError`` the server turns into HTTP 400) naming the problem: a node listing itself (a cycle), an
unknown parent, a reused node id, or a program that grew past ``max_calls``.

A program ends explicitly (`end_program`) or when it has had no running call and no new call for
``idle_s``; its finished DAG (a networkx ``DiGraph``, times relative to the program's start) then goes to
``on_complete`` (the graph library). A program with a call still running after ``ttl_s`` without
activity is abandoned and forgotten; beyond ``max_programs`` the least recently active are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import networkx as nx


class ProgramGraphError(ValueError):
    """A malformed program graph (cycle, unknown parent, reused node id, too many calls)."""

    def __init__(self, program_id: str, message: str):
        super().__init__(f"program {program_id!r}: {message}")
        self.program_id = program_id


@dataclass
class CallRecord:
    """One LLM call of a program."""

    node_id: str
    parents: tuple[str, ...]
    depth: int  # longest path from a root: the stage used for matching and stage deadlines
    stage: int | None  # the stage the client declared, if any
    prompt_len: int
    start: float
    end: float | None = None
    output_len: int | None = None
    ok: bool = True


@dataclass
class TrackedProgram:
    """A running program's partial DAG."""

    program_id: str
    kind: str | None
    start: float
    last_active: float
    calls: dict[str, CallRecord] = field(default_factory=dict)
    running: int = 0
    failed: bool = False

    @property
    def depth(self) -> int:
        return max((c.depth for c in self.calls.values()), default=-1)

    def to_graph(self) -> nx.DiGraph:
        """The DAG so far: node attributes relative to the program start; unknown values are None."""
        g = nx.DiGraph(program_id=self.program_id, kind=self.kind)
        for c in self.calls.values():
            g.add_node(c.node_id, prompt_len=c.prompt_len, output_len=c.output_len, depth=c.depth,
                       stage=c.stage, start=c.start - self.start,
                       end=None if c.end is None else c.end - self.start)
            for p in c.parents:
                g.add_edge(p, c.node_id)
        return g


class ProgramTracker:
    """Partial DAGs of running programs, bounded in number and lifetime."""

    def __init__(self, ttl_s: float = 600.0, idle_s: float = 30.0, max_programs: int = 10000,
                 max_calls: int = 4096, on_complete: Callable[[nx.DiGraph], None] | None = None):
        self.ttl_s = ttl_s
        self.idle_s = idle_s
        self.max_programs = max_programs
        self.max_calls = max_calls
        self.on_complete = on_complete
        self._programs: OrderedDict[str, TrackedProgram] = OrderedDict()  # least recently active first
        self.completed = 0
        self.abandoned = 0

    def __len__(self) -> int:
        return len(self._programs)

    def __contains__(self, program_id: str) -> bool:
        return program_id in self._programs

    def get(self, program_id: str) -> TrackedProgram | None:
        return self._programs.get(program_id)

    def validate_call(self, program_id: str, node_id: str, parents: Sequence[str]) -> None:
        """Raise `ProgramGraphError` if adding this call would make the program's graph malformed."""
        prog = self._programs.get(program_id)
        known = prog.calls if prog is not None else {}
        if node_id in parents:
            raise ProgramGraphError(program_id, f"node {node_id!r} lists itself as a parent (a cycle)")
        if node_id in known:
            raise ProgramGraphError(program_id, f"node id {node_id!r} is reused (each call needs a new id)")
        for p in parents:
            if p not in known:
                raise ProgramGraphError(program_id, f"node {node_id!r} has unknown parent {p!r} (parents "
                                        "must be earlier calls of the same program)")
        if len(set(parents)) != len(parents):
            raise ProgramGraphError(program_id, f"node {node_id!r} lists a parent twice")
        if len(known) >= self.max_calls:
            raise ProgramGraphError(program_id, f"has more than {self.max_calls} calls")

    def add_call(self, program_id: str, node_id: str, parents: Sequence[str] = (), stage: int | None = None,
                 kind: str | None = None, prompt_len: int = 0, now: float = 0.0) -> int:
        """Record a new call (validated first; nothing changes on error). Returns its depth."""
        parents = tuple(parents)
        self.validate_call(program_id, node_id, parents)
        prog = self._programs.get(program_id)
        if prog is None:
            prog = TrackedProgram(program_id, kind, start=now, last_active=now)
            self._programs[program_id] = prog
            self._evict_overflow()
        depth = 1 + max((prog.calls[p].depth for p in parents), default=-1)
        prog.calls[node_id] = CallRecord(node_id, parents, depth, stage, int(prompt_len), now)
        prog.running += 1
        prog.kind = prog.kind or kind
        self._touch(prog, now)
        return depth

    def finish_call(self, program_id: str, node_id: str, output_len: int, now: float, ok: bool = True) -> None:
        """Record a call's end; unknown programs or calls (forgotten ones) are ignored."""
        prog = self._programs.get(program_id)
        call = prog.calls.get(node_id) if prog is not None else None
        if call is None or call.end is not None:
            return
        call.end, call.output_len, call.ok = now, int(output_len), ok
        prog.running -= 1
        prog.failed = prog.failed or not ok
        self._touch(prog, now)

    def end_program(self, program_id: str, now: float | None = None) -> nx.DiGraph | None:
        """Finish a program now: its graph goes to ``on_complete`` if every call succeeded."""
        prog = self._programs.pop(program_id, None)
        if prog is None:
            return None
        if prog.running or prog.failed or not prog.calls:
            self.abandoned += 1
            return None
        graph = prog.to_graph()
        self.completed += 1
        if self.on_complete is not None:
            self.on_complete(graph)
        return graph

    def sweep(self, now: float) -> None:
        """End idle programs (all calls done, quiet for ``idle_s``) and forget abandoned ones."""
        for pid in list(self._programs):
            prog = self._programs[pid]
            quiet = now - prog.last_active
            if quiet < self.idle_s:
                break  # ordered by last activity: the rest are more recent
            if prog.running == 0:
                self.end_program(pid, now)
            elif quiet >= self.ttl_s:
                del self._programs[pid]
                self.abandoned += 1

    def _touch(self, prog: TrackedProgram, now: float) -> None:
        prog.last_active = max(prog.last_active, now)
        self._programs.move_to_end(prog.program_id)

    def _evict_overflow(self) -> None:
        while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
            self.abandoned += 1
