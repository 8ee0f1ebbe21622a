"""Output-length models: quantile regression forests compiled into flat numpy arrays.

`train_length_model` builds the default *survival* model (`survival_model`: leaves keep their length
distributions and the bound is read off ``P(L | prompt, L > generated)``) or, with
``ForestConfig(kind="checkpoint")``, this module's `LengthModel`, the earlier design kept for comparison
and for model files written before the survival model existed (`survival_model.load_model` reads both).

`LengthModel` training uses `quantile_forest.RandomForestQuantileRegressor` on log output lengths, with the number of
tokens generated so far as an extra feature: each finished request of length ``y`` contributes one row
per checkpoint ``g`` in `CHECKPOINTS` with ``g < y`` (it is an example of "still running at g"), so a
leaf's quantile is the conditional quantile of the output given the prompt *and* ``output > g``.

For speed the forest is compiled: each leaf stores its own quantile of the training targets
(quantile-forest's ``aggregate_leaves_first=False`` estimator: per-tree quantiles averaged), the trees
are padded into ``[trees, nodes]`` arrays and all trees are walked at once, one numpy step per level.
A split-conformal offset per checkpoint (from a held-out calibration slice) then makes the bound cover
the requested quantile on data the forest did not see. Models persist as a single ``.npz`` file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHECKPOINTS = np.array([0, 50, 100, 200, 300, 500, 800, 1200, 2000, 3000, 5000, 8000, 12000], dtype=np.int64)
FORMAT_VERSION = 1


def checkpoint_index(generated: int) -> int:
    """Index of the largest checkpoint not above ``generated``."""
    return int(np.searchsorted(CHECKPOINTS, max(0, generated), side="right") - 1)


def augment(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (features + log1p(checkpoint)), log targets and checkpoint indices for every g < y."""
    rows, targets, ck = [], [], []
    for ci, g in enumerate(CHECKPOINTS):
        keep = y > g
        if not keep.any():
            break
        gcol = np.full((int(keep.sum()), 1), math.log1p(g), dtype=np.float32)
        rows.append(np.hstack([x[keep], gcol]))
        targets.append(np.log(np.maximum(1, y[keep])).astype(np.float64))
        ck.append(np.full(int(keep.sum()), ci, dtype=np.int64))
    if not rows:
        return np.zeros((0, x.shape[1] + 1), np.float32), np.zeros(0), np.zeros(0, np.int64)
    return np.vstack(rows).astype(np.float32), np.concatenate(targets), np.concatenate(ck)


# The bound the scheduler runs on by default: a p90, not the p95 whose coverage `predictor report`
# measures. With hopelessness judged at the low quantile, Tempo on the p90 bound reached 0.955 of
# oracle Tempo at the paper mix's knee against 0.905 on the p95 (simulator, 16 seeds; RESULTS.md).
SCHEDULING_QUANTILE = 0.9


@dataclass
class ForestConfig:
    """Training knobs. Few shallow trees keep prediction well under a millisecond."""

    n_estimators: int = 40
    max_depth: int = 12
    min_samples_leaf: int | None = None  # None: 50 for "survival", 20 for "checkpoint"
    max_features: float = 0.5
    quantile: float = 0.95
    calibration_fraction: float | None = None  # None: 0.3 for "survival", 0.2 for "checkpoint"
    max_rows: int = 60000  # augmented rows kept for one fit (subsampled beyond this)
    seed: int = 0
    kind: str = "survival"  # "survival" (leaf length distributions) or "checkpoint" (this module's)
    prior_weight: float = 2.0  # survival: pseudo-samples of the global distribution per leaf
    bootstrap: bool = True  # survival: bootstrap each tree (decorrelates trees on few features)

    def leaf_size(self, n_fit: int | None = None) -> int:
        """Smallest leaf: ``min_samples_leaf`` if set, else 50 ("survival") / 20 ("checkpoint"), down
        to a twelfth of the ``n_fit`` rows the forest is grown on (at least 8): a bootstrapped tree
        sees about 63% of them as distinct rows, so with few finished requests (a fresh server's
        first few hundred) a leaf of 50 would leave every tree a single leaf, the marginal."""
        if self.min_samples_leaf is not None:
            return int(self.min_samples_leaf)
        base = 50 if self.kind == "survival" else 20
        return base if n_fit is None else min(base, max(8, n_fit // 12))

    def cal_fraction(self) -> float:
        if self.calibration_fraction is not None:
            return float(self.calibration_fraction)
        return 0.3 if self.kind == "survival" else 0.2


class LengthModel:
    """A compiled quantile forest over log output length, with per-checkpoint conformal offsets."""

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                 value: np.ndarray, depth: int, offsets: np.ndarray, meta: dict):
        self.feature = feature  # [T, M] int32, leaves point at feature 0 (ignored)
        self.threshold = threshold  # [T, M] float32
        self.left = left  # [T, M] int32, leaves point at themselves
        self.right = right
        self.value = value  # [T, M] float32: log-length quantile of each leaf
        self.depth = int(depth)
        self.offsets = offsets  # [len(CHECKPOINTS)] float32 additive log offsets
        self.meta = meta
        self._rows = np.arange(feature.shape[0])

    @property
    def quantile(self) -> float:
        return float(self.meta.get("quantile", 0.95))

    @property
    def n_samples(self) -> int:
        return int(self.meta.get("n_samples", 0))

    # ---- prediction ----------------------------------------------------------------------
    def predict_log(self, x: np.ndarray) -> np.ndarray:
        """Calibrated log-length quantiles for rows ``x`` = features + [log1p(checkpoint)]."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        node = walk_trees(self.feature, self.threshold, self.left, self.right, self.depth, x)
        raw = self.value[self._rows[None, :], node].mean(axis=1)
        ck = np.searchsorted(np.log1p(CHECKPOINTS).astype(np.float32), x[:, -1] + 1e-6, side="right") - 1
        return raw + self.offsets[np.clip(ck, 0, len(self.offsets) - 1)]

    def predict(self, features: np.ndarray, generated: int = 0) -> int:
        """Bound on total output tokens of one request that has generated ``generated`` so far."""
        g = int(CHECKPOINTS[checkpoint_index(generated)])
        row = np.append(np.asarray(features, dtype=np.float32), np.float32(math.log1p(g)))
        return int(math.ceil(math.exp(float(self.predict_log(row[None, :])[0]))))

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename), so a reader never sees a half-written model."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, feature=self.feature, threshold=self.threshold, left=self.left,
                            right=self.right, value=self.value, offsets=self.offsets,
                            depth=np.array(self.depth),
                            meta=np.array(json.dumps({**self.meta, "format": FORMAT_VERSION})))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> LengthModel:
        """Load a saved model; raises ValueError (or OSError) on a missing, corrupt or foreign file."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in ("feature", "threshold", "left", "right", "value", "offsets")}
                depth = int(z["depth"])
        except OSError:
            raise
        except Exception as exc:  # zipfile/json/key errors all mean "not a model file"
            raise ValueError(f"{path}: not a length model ({type(exc).__name__}: {exc})") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: model format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        shape = arrays["feature"].shape
        if any(a.shape != shape for k, a in arrays.items() if k != "offsets") or len(arrays["offsets"]) != len(
                CHECKPOINTS):
            raise ValueError(f"{path}: inconsistent array shapes")
        return cls(arrays["feature"], arrays["threshold"], arrays["left"], arrays["right"], arrays["value"],
                   depth, arrays["offsets"].astype(np.float32), meta)


def walk_trees(feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray, depth: int,
               x: np.ndarray) -> np.ndarray:
    """Leaf node index ``[n, T]`` of every row of ``x`` in every padded tree (one numpy step per level)."""
    n = x.shape[0]
    n_trees, width = feature.shape
    offset = (np.arange(n_trees, dtype=np.int64) * width)[None, :]
    feat, thr, lft, rgt = feature.ravel(), threshold.ravel(), left.ravel(), right.ravel()
    node = np.zeros((n, n_trees), dtype=np.int64)
    for _ in range(depth):
        idx = node + offset
        value = x[0][feat[idx]] if n == 1 else np.take_along_axis(x, feat[idx], axis=1)
        node = np.where(value <= thr[idx], lft[idx], rgt[idx])
    return node


def pad_trees(forest) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The fitted trees as padded ``[T, M]`` arrays: feature, threshold, left, right, and the depth.

    Leaves point at feature 0 and at themselves, so walking ``depth`` levels always ends on a leaf."""
    trees = [est.tree_ for est in forest.estimators_]
    m = max(t.node_count for t in trees)
    n_t = len(trees)
    feature = np.zeros((n_t, m), np.int32)
    threshold = np.zeros((n_t, m), np.float32)
    left = np.tile(np.arange(m, dtype=np.int32), (n_t, 1))
    right = left.copy()
    for i, t in enumerate(trees):
        c = t.node_count
        internal = t.children_left[:c] >= 0
        feature[i, :c] = np.where(internal, t.feature[:c], 0)
        threshold[i, :c] = np.where(internal, t.threshold[:c], 0.0)
        left[i, :c] = np.where(internal, t.children_left[:c], np.arange(c))
        right[i, :c] = np.where(internal, t.children_right[:c], np.arange(c))
    return feature, threshold, left, right, max(t.max_depth for t in trees)


def compile_forest(forest, x_fit: np.ndarray, y_fit: np.ndarray, q: float) -> tuple[np.ndarray, ...]:
    """Pad the fitted trees into flat arrays and store each leaf's ``q`` quantile of the targets."""
    feature, threshold, left, right, depth = pad_trees(forest)
    value = np.zeros(feature.shape, np.float32)
    leaves = forest.apply(x_fit)  # [n, T]
    for i in range(feature.shape[0]):
        order = np.argsort(leaves[:, i], kind="stable")
        ids, starts = np.unique(leaves[order, i], return_index=True)
        for leaf, chunk in zip(ids, np.split(y_fit[order], starts[1:]), strict=True):
            value[i, leaf] = np.quantile(chunk, q)
    return feature, threshold, left, right, value, depth


def train_length_model(x: np.ndarray, y: np.ndarray, config: ForestConfig | None = None,
                       model_name: str | None = None, heads=None):
    """Fit a length model on features ``x`` and output lengths ``y`` (finished requests).

    ``config.kind`` picks the model: ``"survival"`` (default, `survival_model.SurvivalModel`) or
    ``"checkpoint"`` (`LengthModel`: generated-token checkpoints as a feature, conformal log offsets).
    ``heads``: each request's first generated token ids or None (survival: grows prefix models)."""
    cfg = config or ForestConfig()
    if cfg.kind == "survival":
        from tempo_sglang.analyzer.survival_fit import train_survival_model
        return train_survival_model(x, y, cfg, model_name, heads)
    if cfg.kind != "checkpoint":
        raise ValueError(f"unknown length model kind {cfg.kind!r} (survival or checkpoint)")
    return train_checkpoint_model(x, y, cfg, model_name)


def train_checkpoint_model(x: np.ndarray, y: np.ndarray, config: ForestConfig | None = None,
                           model_name: str | None = None) -> LengthModel:
    """Fit the checkpoint-feature quantile forest (`LengthModel`) on features ``x`` and lengths ``y``."""
    from quantile_forest import RandomForestQuantileRegressor

    cfg = config or ForestConfig()
    y = np.asarray(y, dtype=np.int64)
    if len(y) < 10:
        raise ValueError(f"need at least 10 samples to train, got {len(y)}")
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(len(y))
    n_cal = int(len(y) * cfg.cal_fraction()) if len(y) >= 100 else 0
    cal, fit = perm[:n_cal], perm[n_cal:]
    xa, ya, _ = augment(x[fit], y[fit])
    if len(ya) > cfg.max_rows:
        keep = rng.choice(len(ya), cfg.max_rows, replace=False)
        xa, ya = xa[keep], ya[keep]
    forest = RandomForestQuantileRegressor(
        n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, min_samples_leaf=cfg.leaf_size(),
        max_features=cfg.max_features, bootstrap=False, random_state=cfg.seed, n_jobs=1)
    forest.fit(xa, ya)
    arrays = compile_forest(forest, xa, ya, cfg.quantile)
    meta = {"quantile": cfg.quantile, "n_samples": int(len(y)), "n_rows": int(len(ya)),
            "n_estimators": cfg.n_estimators, "max_depth": cfg.max_depth, "model": model_name}
    model = LengthModel(*arrays, offsets=np.zeros(len(CHECKPOINTS), np.float32), meta=meta)
    if n_cal:
        model.offsets = _conformal_offsets(model, x[cal], y[cal], cfg.quantile)
    return model


def _conformal_offsets(model: LengthModel, x: np.ndarray, y: np.ndarray, q: float) -> np.ndarray:
    """Per-checkpoint log offsets so the bound covers ``q`` of the calibration slice (split conformal)."""
    xa, ya, ck = augment(x, y)
    resid = ya - model.predict_log(xa)
    offsets = np.zeros(len(CHECKPOINTS), np.float32)
    last = 0.0
    for ci in range(len(CHECKPOINTS)):
        r = resid[ck == ci]
        if len(r) >= 30:
            level = min(1.0, math.ceil((len(r) + 1) * q) / len(r))
            last = float(np.quantile(r, level, method="higher"))
        offsets[ci] = last  # sparse tail checkpoints reuse the last well-estimated offset
    return offsets
