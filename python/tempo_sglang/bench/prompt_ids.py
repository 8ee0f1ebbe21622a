"""Token-id prompts for workload items, with the prefix sharing their DAG describes.

A `WorkItem` knows only lengths. The live bench sends token ids (no tokenizer round trip, exact
lengths): a call that continues a conversation names its parent's rid as ``prefix_id`` and starts
with the parent's prompt (then deterministic filler standing for the parent's output, which is the
same for every child of that parent, so siblings share it in SGLang's radix cache); a shared key
that is not a call (a debate transcript) gets one deterministic sequence. Everything is seeded, so
every policy sees the very same prompts.
"""

from __future__ import annotations

import random
import zlib

from tempo_sglang.workloads.items import WorkItem

TOKEN_LOW, TOKEN_HIGH = 200, 40000  # ids inside every shipped model's vocabulary, away from specials


def _stream(key: str, seed: int, n: int) -> list[int]:
    rng = random.Random(zlib.crc32(f"{seed}:{key}".encode()))
    return [rng.randrange(TOKEN_LOW, TOKEN_HIGH) for _ in range(n)]


class PromptBuilder:
    """Builds each item's ``input_ids``; remembers contexts so children can extend them."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._contexts: dict[str, list[int]] = {}

    def _context(self, key: str, n: int) -> list[int]:
        ctx = self._contexts.setdefault(key, [])
        if len(ctx) < n:  # a parent's output (or a longer shared transcript): deterministic filler
            ctx.extend(_stream(f"{key}#{len(ctx)}", self.seed, n - len(ctx)))
        return ctx[:n]

    def input_ids(self, item: WorkItem) -> list[int]:
        """The prompt of ``item``: its shared prefix (if any) then its own tokens."""
        prefix = self._context(item.prefix_id, item.prefix_len) if item.prefix_id and item.prefix_len else []
        ids = prefix + _stream(item.rid, self.seed, max(1, item.prompt_len - len(prefix)))
        self._contexts[item.rid] = list(ids)
        return ids
