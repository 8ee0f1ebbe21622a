"""Training and calibration of the survival length model (`survival_model.SurvivalModel`).

The finished requests are split: a fit slice grows the forest and fills the leaf histograms; the
calibration slice (``ForestConfig.cal_fraction()``) sets, per generated-token checkpoint ``g``, how
the bound is read off the forest's conditional CDF ``F(. | x, L > g)``. The calibration requests still
running at ``g`` are split in two parts:

- on the *pick* part (`PICK_FRACTION`) every candidate read-out is conformally calibrated and the
  one with the smallest mean bound/actual wins. Candidates: the prior weight (pseudo-samples of the global survivor
  distribution per leaf, `PRIOR_WEIGHTS`; large = trust the leaves less) times the read-out, either
  ``F^-1(tau)`` with a calibrated CDF level ``tau`` (score ``P(len < L | x, L > g)``), or
  ``F^-1(q0) * scale`` with a fixed level ``q0`` in `BASE_LEVELS` and a calibrated multiplier (score
  ``log L - log F^-1(q0)``, split-conformal quantile regression);
- on the rest, which the choice never saw, the winner's ``tau`` or ``scale`` is set by split
  conformal at level ``q``: the bound covers ``q`` of unseen requests still running at ``g``.

Checkpoints with fewer than ``min_alive`` calibration requests keep the previous checkpoint's read-out and
only re-calibrate its level on all of them (from ``min_conformal`` requests on; fewer: reused as is).

Given the requests' first generated token ids (``heads``), `train_survival_model` also grows a prefix
model per `PREFIX_CHECKPOINTS` entry ``g_c`` with at least `MIN_PREFIX_SAMPLES` requests longer than
``g_c``: the same training and calibration on those requests, prompt features plus prefix features.
"""

from __future__ import annotations

import math

import numpy as np

from tempo_sglang.analyzer.length_model import CHECKPOINTS, ForestConfig, pad_trees
from tempo_sglang.analyzer.prefix_features import prefix_features
from tempo_sglang.analyzer.survival_model import (
    EDGES,
    MAX_LEN,
    PREFIX_CHECKPOINTS,
    PRIOR_WEIGHTS,
    SurvivalModel,
    invert,
    scale_bounds,
)

BASE_LEVELS = (0.8, 0.9)  # fixed CDF levels of the scaled read-out
PICK_FRACTION = 1 / 3  # share of the calibration requests that choose the read-out (the rest set its level)
MIN_PREFIX_SAMPLES = 200  # requests past a prefix checkpoint needed to grow its prefix model


def train_survival_model(x: np.ndarray, y: np.ndarray, config: ForestConfig | None = None,
                         model_name: str | None = None, heads=None) -> SurvivalModel:
    """Fit the forest on prompt features ``x`` and output lengths ``y``; calibrate each checkpoint.

    ``heads`` (optional, one per row, None where unknown): the first generated token ids of each
    request, from which the prefix models are grown."""
    from quantile_forest import RandomForestQuantileRegressor

    cfg = config or ForestConfig()
    y = np.clip(np.asarray(y, dtype=np.int64), 0, MAX_LEN)
    if len(y) < 10:
        raise ValueError(f"need at least 10 samples to train, got {len(y)}")
    x = np.asarray(x, dtype=np.float32)
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(len(y))
    n_cal = int(len(y) * cfg.cal_fraction()) if len(y) >= 100 else 0
    cal, fit = perm[:n_cal], perm[n_cal:]
    forest = RandomForestQuantileRegressor(
        n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, min_samples_leaf=cfg.leaf_size(len(fit)),
        max_features=cfg.max_features, bootstrap=cfg.bootstrap, random_state=cfg.seed, n_jobs=1)
    forest.fit(x[fit], np.log(np.maximum(1, y[fit])))
    feature, threshold, left, right, depth = pad_trees(forest)
    leaf_row, cum = leaf_histograms(forest.apply(x[fit]), y[fit], feature.shape)
    hist = np.bincount(np.searchsorted(EDGES, y, side="right") - 1, minlength=len(EDGES))
    global_cum = np.concatenate([[0.0], np.cumsum(hist)[:-1]]) / len(y)
    meta = {"quantile": cfg.quantile, "n_samples": int(len(y)), "n_calibration": int(n_cal),
            "n_estimators": cfg.n_estimators, "max_depth": cfg.max_depth, "model": model_name}
    c = len(CHECKPOINTS)
    model = SurvivalModel(feature, threshold, left, right, depth, leaf_row, cum, global_cum,
                          np.full(c, cfg.quantile), np.full(c, cfg.prior_weight), meta)
    if n_cal:
        calibrate(model, x[cal], y[cal], cfg.quantile, rng)
        meta["readout"] = [[float(w), round(float(t), 4), round(float(s), 4)]
                           for w, t, s in zip(model.weights, model.taus, model.scales, strict=True)]
    if heads is not None:
        for gc in PREFIX_CHECKPOINTS:
            rows = [i for i, h in enumerate(heads) if y[i] > gc and h is not None and len(h) >= gc]
            if len(rows) >= MIN_PREFIX_SAMPLES:
                aug = np.hstack([x[rows], np.stack([prefix_features(heads[i], gc) for i in rows])])
                model.prefix_models[gc] = train_survival_model(aug, y[rows], cfg, model_name)
    return model


def leaf_histograms(leaves: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Row index of every leaf (``[T, M]``, -1 elsewhere) and each leaf's counts below each edge."""
    leaf_row = np.full(shape, -1, np.int32)
    ids = [np.unique(leaves[:, t]) for t in range(shape[0])]
    start = np.cumsum([0] + [len(i) for i in ids])
    for t, i in enumerate(ids):
        leaf_row[t, i] = np.arange(start[t], start[t + 1])
    bins = np.searchsorted(EDGES, y, side="right") - 1
    hist = np.zeros((start[-1], len(EDGES)), np.float64)
    for t in range(shape[0]):
        np.add.at(hist, (leaf_row[t, leaves[:, t]], bins), 1.0)
    cum = np.zeros_like(hist)
    cum[:, 1:] = np.cumsum(hist, axis=1)[:, :-1]
    return leaf_row, cum


def conformal_quantile(scores: np.ndarray, q: float) -> float:
    """The ``ceil((n + 1) q)``-th smallest score (inf when that rank exceeds n)."""
    n = len(scores)
    rank = math.ceil((n + 1) * q)
    return math.inf if rank > n else float(np.sort(scores)[rank - 1])


def _readout(model: SurvivalModel, rows: np.ndarray, y: np.ndarray, g: int, weight: float,
             base: float | None, q: float) -> tuple[float, float]:
    """Calibrated ``(tau, scale)`` of one candidate on requests ``rows``/``y`` still running at ``g``."""
    gs = np.full(len(y), float(g))
    if base is None:
        level = conformal_quantile(model.scores(rows, y, gs, weight), q)
        return min(1.0, level), 1.0
    quant = invert(model.cdf_at_edges(rows, gs, weight), np.full(len(y), base))
    resid = np.log(np.maximum(1, y)) - np.log(np.maximum(1, quant))
    return base, math.exp(min(conformal_quantile(resid, q), 30.0))


def _mean_ratio(model: SurvivalModel, rows: np.ndarray, y: np.ndarray, g: int, weight: float, tau: float,
                scale: float) -> float:
    cdf = model.cdf_at_edges(rows, np.full(len(y), float(g)), weight)
    bounds = np.maximum(g + 1, scale_bounds(invert(cdf, np.full(len(y), tau)), scale))
    return float(np.mean(bounds / np.maximum(1, y)))


def calibrate(model: SurvivalModel, x: np.ndarray, y: np.ndarray, q: float, rng: np.random.Generator,
              min_alive: int = 60, min_conformal: int = 19) -> None:
    """Set ``model.weights/taus/scales`` per checkpoint from calibration requests ``x``, ``y``."""
    rows = model.leaf_rows(x)
    current = (float(model.weights[0]), q, 1.0)
    candidates = [(w, b) for w in PRIOR_WEIGHTS for b in (None, *BASE_LEVELS)]
    for ci, g in enumerate(CHECKPOINTS):
        alive = rng.permutation(np.flatnonzero(y > g))
        if len(alive) >= min_alive:
            cut = int(len(alive) * PICK_FRACTION)
            pick, conf = (alive[:cut], alive[cut:]) if cut else (alive, alive)
            best = (math.inf, candidates[0])
            for weight, base in candidates:
                tau, scale = _readout(model, rows[pick], y[pick], int(g), weight, base, q)
                cost = _mean_ratio(model, rows[pick], y[pick], int(g), weight, tau, scale)
                best = min(best, (cost, (weight, base)), key=lambda b: b[0])
            weight, base = best[1]
            tau, scale = _readout(model, rows[conf], y[conf], int(g), weight, base, q)
            current = (weight, tau, scale)
        elif len(alive) >= min_conformal:  # too few to choose: calibrate the current read-out on all
            base = None if current[2] == 1.0 else current[1]
            tau, scale = _readout(model, rows[alive], y[alive], int(g), current[0], base, q)
            current = (current[0], tau, scale)
        model.weights[ci], model.taus[ci], model.scales[ci] = current
