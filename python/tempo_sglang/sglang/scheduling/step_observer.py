"""What the controller learns from each batch SGLang executed (``Scheduler.run_batch``)."""

from __future__ import annotations

import time

from tempo_sglang.sglang.scheduling.stats import ControllerStats
from tempo_sglang.sim.cost_sums import step_features


def observe_engine_step(stats: ControllerStats, batch, elapsed: float) -> str | None:
    """Feed one executed batch (its forward took ``elapsed`` seconds, ending now) to ``stats``: the
    online step-time figures and the whole-iteration sums. Returns ``"decode"``, ``"prefill"`` or None."""
    mode, end = batch.forward_mode, time.perf_counter()
    if mode.is_decode():
        context = int(getattr(batch, "seq_lens_sum", None) or sum(
            len(r.origin_input_ids) + len(r.output_ids) for r in batch.reqs))
        stats.observe_decode(elapsed, batch.batch_size(), context)
        stats.observe_decode_end(time.time())
        features, kind = step_features((), batch.batch_size(), context), "decode"
    elif mode.is_extend():
        stats.observe_prefill(elapsed, int(getattr(batch, "extend_num_tokens", 0) or 0),
                              fixed=stats.step_fit.coefficients()[0] or None)
        chunks = zip(getattr(batch, "extend_lens", None) or [], getattr(batch, "prefix_lens", None) or [], strict=False)
        features, kind = step_features([(int(n), int(k)) for n, k in chunks], 0, 0), "prefill"
    else:
        return None
    stats.observe_iteration(features, end - elapsed, end, busy_after=any(not r.finished() for r in batch.reqs))
    return kind
