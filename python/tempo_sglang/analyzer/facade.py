"""`RequestAnalyzer`: the one object engines call. Fills ``view.length_bound`` and ``view.stage_deadline``.

Hooks (the simulator and the SGLang plugin call exactly these, on their own clock)::

    analyzer = RequestAnalyzer(AnalyzerConfig(model_path="len.npz", online=True))
    analyzer.on_arrival(view, prompt_text=None)   # may raise ProgramGraphError (-> HTTP 400)
    analyzer.on_progress(view, output_ids)        # cheap no-op unless ~refine_every new tokens
    analyzer.on_finish(view, now=t, ok=True, output_ids=ids)  # learn from it; record the call's end
    analyzer.program_estimate(program_id)         # MatchResult: remaining calls/tokens, stage shares
    analyzer.end_program(program_id, now=t)       # optional: a program said it is done
    analyzer.close()

``output_ids`` (optional; the SGLang plugin has them, the simulator does not) are the request's
generated token ids: a model with prefix models refines the bound from them, and the trainer keeps the
first `HEAD_TOKENS` of each finished request to grow those models.

Oracle mode (benchmarks only) sets the bound to ``view.true_output_len``. Nothing here blocks on
training: finished samples go to a background trainer process over ZMQ, and retrained models are
picked up by `poll` (called from the hooks at most once per ``poll_interval_s`` of wall time).

Under tensor/data parallelism every rank must decide alike: spawn the trainer on one rank, join it from
the others with ``trainer_connect_only``, set ``poll_interval_s=float("inf")`` and call `poll` at a point
all ranks share (the same step), so every rank swaps models at the same step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tempo_sglang.analyzer.features import featurize_view
from tempo_sglang.analyzer.length_model import SCHEDULING_QUANTILE
from tempo_sglang.analyzer.library import GraphLibrary, MatchResult
from tempo_sglang.analyzer.predictor import LengthPredictor
from tempo_sglang.analyzer.program_tracker import ProgramTracker
from tempo_sglang.analyzer.samples import HEAD_TOKENS, LengthSample
from tempo_sglang.core.views import DEFAULT_LENGTH_BOUND, RequestView
from tempo_sglang.slo import SLOClass

logger = logging.getLogger(__name__)
STATE_KEY = "tempo_analyzer"  # the analyzer's scratch entry in RequestView.extra
PREFIX_KEY = "length_prefix"  # RequestView.extra: generated tokens the bound's prefix model read, or None


@dataclass
class AnalyzerConfig:
    """How the analyzer predicts and learns."""

    quantile: float = SCHEDULING_QUANTILE  # the bound's level (the online trainer's models)
    low_quantile: float | None = 0.25  # level of ``view.length_low`` (hopelessness; None: not set)
    refine_every: int = 50  # re-predict after this many newly generated tokens
    default_bound: int = DEFAULT_LENGTH_BOUND
    model_path: str | None = None  # loaded at start (if present); the trainer writes here
    model_name: str | None = None  # the served model (a predictor feature)
    oracle: bool = False
    online: bool = False  # start a background trainer and learn from finished requests
    trainer_dir: str | None = None  # trainer's sample log and sockets (default: a temp dir)
    trainer_connect_only: bool = False  # join a trainer another process started in ``trainer_dir``
    seed_jsonl: str | None = None  # seed samples the trainer starts from
    retrain_every: int = 200  # finished requests between retrains
    keep_text: bool = False  # send prompt text to the trainer (hashed features need it)
    library_capacity: int = 500
    program_ttl_s: float = 600.0
    program_idle_s: float = 30.0
    poll_interval_s: float = 1.0
    clock: Callable[[], float] = time.monotonic  # used only when a hook is given no ``now``


@dataclass
class _State:
    features: np.ndarray
    refined_at: int
    text: str | None


class RequestAnalyzer:
    """Length bounds and program stage deadlines for `RequestView`s (engine-agnostic)."""

    def __init__(self, config: AnalyzerConfig | None = None, predictor: LengthPredictor | None = None,
                 library: GraphLibrary | None = None, tracker: ProgramTracker | None = None):
        self.config = cfg = config or AnalyzerConfig()
        self.predictor = predictor or LengthPredictor.from_path(cfg.model_path, default_bound=cfg.default_bound)
        self.library = library or GraphLibrary(capacity=cfg.library_capacity)
        self.tracker = tracker or ProgramTracker(ttl_s=cfg.program_ttl_s, idle_s=cfg.program_idle_s,
                                                 on_complete=self.library.add)
        self._trainer = None
        self._last_poll = 0.0
        self._last_sweep = -float("inf")
        if cfg.online:
            from tempo_sglang.analyzer.trainer import TrainerClient
            if cfg.trainer_connect_only:
                if cfg.trainer_dir is None:
                    raise ValueError("trainer_connect_only needs trainer_dir")
                self._trainer = TrainerClient(cfg.trainer_dir)
            else:
                self._trainer = TrainerClient.spawn(cfg.trainer_dir, model_path=cfg.model_path,
                                                    seed_jsonl=cfg.seed_jsonl, retrain_every=cfg.retrain_every,
                                                    quantile=cfg.quantile, model_name=cfg.model_name)

    # ---- hooks ---------------------------------------------------------------------------
    def on_arrival(self, view: RequestView, prompt_text: str | None = None) -> None:
        """A request arrived: set its first length bound and, for a program call, its stage deadline.

        Raises `ProgramGraphError` (before changing anything) if the call would make its program's
        graph malformed."""
        slo = view.slo
        if slo.slo_class is SLOClass.PROGRAM and slo.program_id is not None:
            self._program_arrival(view)
        feats = featurize_view(view, prompt_text, self.config.model_name)
        view.extra[STATE_KEY] = _State(feats, view.generated,
                                       prompt_text if self.config.keep_text else None)
        self._set_bound(view, feats)
        self._housekeeping(view.arrival)

    def on_progress(self, view: RequestView, output_ids=None) -> None:
        """Tokens were generated: re-predict once every ``refine_every`` tokens (else a no-op);
        ``output_ids``: the generated token ids, if the engine has them."""
        state = view.extra.get(STATE_KEY)
        if state is None:  # never announced: predict from its features, leave program tracking alone
            state = view.extra[STATE_KEY] = _State(featurize_view(view, None, self.config.model_name),
                                                   -self.config.refine_every, None)
        if view.generated - state.refined_at < self.config.refine_every and not self._overrun(view):
            return
        state.refined_at = view.generated
        self._set_bound(view, state.features, output_ids)

    def on_finish(self, view: RequestView, now: float | None = None, ok: bool = True, output_ids=None) -> None:
        """A request ended (``ok=False``: aborted or failed, not learned from)."""
        now = self.config.clock() if now is None else now
        state = view.extra.pop(STATE_KEY, None)
        slo = view.slo
        if slo.slo_class is SLOClass.PROGRAM and slo.program_id and slo.node_id:
            self.tracker.finish_call(slo.program_id, slo.node_id, view.generated, now, ok)
        if ok and self._trainer is not None:
            self._trainer.push(LengthSample(
                prompt_len=view.prompt_len, output_len=view.generated, slo_class=slo.slo_class.value,
                program_kind=slo.program_kind, stage=slo.stage, model=self.config.model_name,
                prompt=state.text if state is not None else None,
                output_head=[int(t) for t in output_ids[:HEAD_TOKENS]] if output_ids is not None else None))
        self._housekeeping(now)

    # ---- programs ------------------------------------------------------------------------
    def program_estimate(self, program_id: str) -> MatchResult | None:
        """The library's best match for a running program (None: unknown program or empty library)."""
        prog = self.tracker.get(program_id)
        if prog is None or not prog.calls:
            return None
        return self.library.match(prog.to_graph(), kind=prog.kind, record=False)

    def end_program(self, program_id: str, now: float | None = None) -> None:
        self.tracker.end_program(program_id, self.config.clock() if now is None else now)

    def _program_arrival(self, view: RequestView) -> None:
        slo = view.slo
        depth = self.tracker.add_call(slo.program_id, slo.node_id or view.rid, slo.parents, slo.stage,
                                      slo.program_kind, view.prompt_len, view.arrival)
        prog = self.tracker.get(slo.program_id)
        if view.program_start is None:
            view.program_start = prog.start
        if slo.deadline_ms is None:
            return
        match = self.library.match(prog.to_graph(), kind=prog.kind)
        if match is not None:
            view.stage_deadline = view.program_start + slo.deadline_ms / 1000.0 * match.stage_fraction(depth)

    # ---- internals -----------------------------------------------------------------------
    def _overrun(self, view: RequestView) -> bool:
        return view.length_bound is not None and view.generated >= view.length_bound - 1

    def _set_bound(self, view: RequestView, feats: np.ndarray, output_ids=None) -> None:
        if self.config.oracle and view.true_output_len is not None:
            view.length_bound = view.length_low = max(int(view.true_output_len), view.generated + 1)
            return
        view.length_bound, view.length_low = self.predictor.bounds(feats, view.generated, view.max_new_tokens,
                                                                   self.config.low_quantile, output_ids)
        view.extra[PREFIX_KEY] = self.predictor.prefix_checkpoint(view.generated, output_ids)

    def _housekeeping(self, now: float) -> None:
        if now - self._last_sweep >= 1.0:
            self._last_sweep = now
            self.tracker.sweep(now)
        if self._trainer is not None:
            wall = time.monotonic()
            if wall - self._last_poll >= self.config.poll_interval_s:
                self._last_poll = wall
                self.poll()

    def poll(self) -> bool:
        """Pick up a model the background trainer published since the last call (non-blocking)."""
        if self._trainer is None:
            return False
        path = self._trainer.poll_update()
        return path is not None and self.predictor.load(path)

    def close(self) -> None:
        """Stop the background trainer (if this analyzer started one)."""
        if self._trainer is not None:
            self._trainer.close()
            self._trainer = None
