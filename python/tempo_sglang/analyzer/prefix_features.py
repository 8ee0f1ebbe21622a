"""Features of what a request has generated so far: its first output token ids.

The survival forest's prompt features say what kind of request this is; after ``g`` tokens the
answer itself says more: whether it is a one-line reply, a list, code, or a small model caught in a
loop (which runs to ``max_new_tokens``). Layout (``PREFIX_FEATURE_NAMES``): the share of distinct
tokens, the share of 4-grams seen earlier in the prefix (overall and in its last quarter: a loop in
progress), the share of the most frequent token, then ``ID_BUCKETS`` hashed, log-scaled token-id
counts. Token ids, not text: the scheduler has them for free (SGLang's ``req.output_ids``), and they
are stable for one served model, which is what the length model is trained for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

ID_BUCKETS = 32
NGRAM = 4
PREFIX_FEATURE_NAMES = ("distinct_share", "repeat_ngram_share", "recent_repeat_share", "top_token_share",
                        *(f"out_id_{i}" for i in range(ID_BUCKETS)))
N_PREFIX_FEATURES = len(PREFIX_FEATURE_NAMES)
_MIX = 2654435761  # Knuth's multiplicative hash: spreads consecutive ids over the buckets


def prefix_features(output_ids: Sequence[int], upto: int) -> np.ndarray:
    """Features of the first ``upto`` generated token ids (float32, length `N_PREFIX_FEATURES`)."""
    ids = [int(t) for t in output_ids[:upto]]
    out = np.zeros(N_PREFIX_FEATURES, dtype=np.float32)
    n = len(ids)
    if n == 0:
        return out
    counts = Counter(ids)
    out[0] = len(counts) / n
    seen: set[tuple[int, ...]] = set()
    repeats = np.zeros(max(0, n - NGRAM + 1), dtype=bool)
    for i in range(len(repeats)):
        gram = tuple(ids[i:i + NGRAM])
        repeats[i] = gram in seen
        seen.add(gram)
    if len(repeats):
        out[1] = repeats.mean()
        out[2] = repeats[-max(1, len(repeats) // 4):].mean()
    out[3] = counts.most_common(1)[0][1] / n
    buckets = np.zeros(ID_BUCKETS, dtype=np.float32)
    for token, c in counts.items():
        buckets[((token * _MIX) & 0xFFFFFFFF) % ID_BUCKETS] += c
    out[4:] = np.log1p(buckets)
    return out
