"""Survival length model: a quantile forest whose leaves keep their output-length distributions.

The forest partitions requests by prompt features only (one row per finished request). Each leaf keeps
the cumulative histogram of its training output lengths on fixed integer bin edges (`EDGES`: exact
below 16 tokens, ~6% wide above). For a request that has generated ``g`` tokens, each tree gives the
conditional CDF of the total length given ``L > g`` from its leaf's survivors, shrunk toward the global
survivor distribution by a prior weight (pseudo-samples; all prior for a leaf without survivors), and
the trees' CDFs are averaged (Meinshausen's quantile regression forest weights). The bound is read off
that CDF, so it conditions on the observed fact ``L > g`` (not a shift of the prior bound) and tightens
at every ``g``, not only at checkpoints.

The read-out per checkpoint (`CHECKPOINTS`; a ``g`` in between uses the checkpoint at or below it) is a
prior weight, a CDF level ``tau`` and a multiplier ``scale``: ``bound = floor(F^-1(tau) * scale)``, set by
split conformal calibration in `survival_fit` so the bound covers ``q`` of unseen requests still running
at ``g``. The CDF is piecewise linear between edges and scores and bounds use the same interpolation, so
a calibration score ``P(len < L)`` at most ``tau`` means exactly ``L <= bound`` (`invert`).

Prefix models (optional, ``prefix_models``): for a checkpoint ``g_c`` in `PREFIX_CHECKPOINTS`, a second
survival model of the same kind grown on the requests that ran past ``g_c``, with the features of their
first ``g_c`` generated token ids (`prefix_features`) appended to the prompt's. A request that has
generated ``g >= g_c`` tokens and whose ids are known gets its bound from the largest such model: what
the answer looks like so far (a one-liner, a list, code, a loop) is information the prompt lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tempo_sglang.analyzer.length_model import (
    CHECKPOINTS,
    LengthModel,
    checkpoint_index,
    walk_trees,
)
from tempo_sglang.analyzer.prefix_features import prefix_features

KIND = "survival"
PREFIX_CHECKPOINTS = (50, 100, 200)  # generated tokens at which a prefix model may take over
FORMAT_VERSION = 2
MAX_LEN = 1 << 17
TIE_EPS = 1e-9
PRIOR_WEIGHTS = (0.25, 2.0, 16.0, 1e6)  # calibration picks one per checkpoint; 1e6 = the prior alone


def _edges(ratio: float = 1.06) -> np.ndarray:
    out = list(range(17))
    while out[-1] < MAX_LEN:
        out.append(max(out[-1] + 1, int(round(out[-1] * ratio))))
    out[-1] = MAX_LEN + 1  # lengths are clipped to MAX_LEN, so the last edge counts every sample
    return np.array(out, dtype=np.int64)


EDGES = _edges()
WIDTHS = np.diff(EDGES).astype(np.float64)


def _interp(cum: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``#(len <= length)`` from cumulative counts ``cum[..., j] = #(len < EDGES[j])`` (linear in bins).

    ``cum`` is ``[B]`` (any shape of ``length``) or ``[..., B]`` with ``length`` broadcasting against
    ``cum[..., 0]``; ``length < 0`` gives 0."""
    length = np.asarray(length, dtype=np.float64)
    if cum.ndim > 1:
        length = np.broadcast_to(length, cum.shape[:-1])
    lc = np.clip(length, 0, MAX_LEN)
    j = np.searchsorted(EDGES, lc, side="right") - 1
    if cum.ndim == 1:
        lo, hi = cum[j], cum[j + 1]
    else:
        lo = np.take_along_axis(cum, j[..., None], axis=-1)[..., 0]
        hi = np.take_along_axis(cum, (j + 1)[..., None], axis=-1)[..., 0]
    out = lo + (lc + 1 - EDGES[j]) / WIDTHS[j] * (hi - lo)
    return np.where(length < 0, 0.0, out)


def invert(cdf: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Largest integer ``L`` with ``F(L - 1) <= tau`` (i.e. the smallest with ``F(L) > tau``) per row.

    ``cdf [n, B]`` holds ``F(EDGES[j] - 1)``, linear in between (the interpolation of `_interp`). So a
    request is under the bound exactly when its score ``F(L - 1)`` is at most ``tau``, ties included
    (up to ``TIE_EPS`` of rounding, resolved toward covering)."""
    level = np.asarray(tau, dtype=np.float64) + TIE_EPS
    j = np.clip((cdf <= level[:, None]).sum(axis=1), 1, cdf.shape[1] - 1)  # first edge with F > level
    lo = np.take_along_axis(cdf, (j - 1)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(cdf, j[:, None], axis=1)[:, 0]
    frac = np.where(hi > lo, np.clip((level - lo) / np.maximum(hi - lo, 1e-300), 0.0, 1.0), 1.0)
    return (EDGES[j - 1] + np.floor(frac * WIDTHS[j - 1])).astype(np.int64)


def scale_bounds(bounds: np.ndarray, scale: float) -> np.ndarray:
    """``floor(max(1, bound) * scale)``: covers every ``L`` with ``log L - log max(1, bound) <= log scale``."""
    if scale == 1.0:
        return bounds
    return np.floor(np.maximum(1, bounds) * scale + 1e-6).astype(np.int64)


class SurvivalModel:
    """Compiled forest + per-leaf cumulative length histograms + per-checkpoint conformal levels."""

    kind = KIND

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                 depth: int, leaf_row: np.ndarray, cum: np.ndarray, global_cum: np.ndarray, taus: np.ndarray,
                 weights: np.ndarray, meta: dict, scales: np.ndarray | None = None):
        self.feature, self.threshold, self.left, self.right = feature, threshold, left, right
        self.depth = int(depth)
        self.leaf_row = leaf_row  # [T, M] int32: row of each leaf in ``cum`` (-1 for internal nodes)
        self.cum = np.ascontiguousarray(cum, dtype=np.float32)  # [R, B] leaf samples below each edge
        self.global_cum = global_cum.astype(np.float64)  # [B] fraction of all training lengths below
        self.taus = taus.astype(np.float64)  # [len(CHECKPOINTS)] conformal CDF levels
        self.weights = weights.astype(np.float64)  # [len(CHECKPOINTS)] prior pseudo-samples per leaf
        self.scales = np.ones(len(taus)) if scales is None else scales.astype(np.float64)  # bound multipliers
        self.meta = meta
        self._trees = np.arange(feature.shape[0])
        self.prefix_models: dict[int, SurvivalModel] = {}  # g_c -> model on prompt + prefix features

    @property
    def quantile(self) -> float:
        return float(self.meta.get("quantile", 0.95))

    @property
    def n_samples(self) -> int:
        return int(self.meta.get("n_samples", 0))

    # ---- distributions -------------------------------------------------------------------
    def leaf_rows(self, x: np.ndarray) -> np.ndarray:
        """``[n, T]`` rows into ``cum`` of the leaves each feature row falls into."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        node = walk_trees(self.feature, self.threshold, self.left, self.right, self.depth, x)
        return self.leaf_row[self._trees[None, :], node]

    def _leaf_counts(self, rows: np.ndarray, length: np.ndarray) -> np.ndarray:
        """``[n, T]`` interpolated leaf counts ``#(len <= length)`` (``length [n]``; below 0 gives 0)."""
        length = np.asarray(length, dtype=np.float64)
        lc = np.clip(length, 0, MAX_LEN)
        j = np.searchsorted(EDGES, lc, side="right") - 1
        lo = self.cum[rows, j[:, None]]
        hi = self.cum[rows, j[:, None] + 1]
        out = lo + ((lc + 1 - EDGES[j]) / WIDTHS[j])[:, None] * (hi - lo)
        return np.where(length[:, None] < 0, 0.0, out)

    def _pieces(self, rows: np.ndarray, g: np.ndarray, prior_weight: float) -> tuple[np.ndarray, ...]:
        """Per-tree conditional CDF ``F_t(L | L > g) = (K_t(L) - K_t(g) + w_t P(L)) / d_t`` where ``K_t``
        counts leaf samples, ``P`` is the global CDF given ``L > g`` and ``w_t`` the prior weight (all of
        it for a leaf without survivors). Returns ``K_t(g)``, ``w_t``, ``d_t`` ``[n, T]`` and ``G(g)``."""
        g = np.asarray(g, dtype=np.float64)
        k_g = self._leaf_counts(rows, g)
        survivors = self.cum[rows, -1] - k_g
        weight = np.where(survivors > 1e-9, prior_weight, 1.0)
        return k_g, weight, survivors + weight, _interp(self.global_cum, g)

    def cdf_at_edges(self, rows: np.ndarray, g: np.ndarray, prior_weight: float) -> np.ndarray:
        """``[n, B]`` forest CDF ``F(EDGES[j] - 1 | x, L > g)``: the trees' conditional CDFs averaged.

        Each tree's CDF is linear in its leaf's counts, so the average is one weighted sum of leaf rows
        (the per-tree clip to [0, 1] only ever binds at edges at or below ``g``, where all trees are <= 0)."""
        k_g, weight, denom, g_g = self._pieces(rows, g, prior_weight)
        a = 1.0 / (denom * rows.shape[1])  # [n, T]
        n, t = rows.shape
        if n <= 8:
            mixed = np.einsum("nt,ntb->nb", a, self.cum[rows])
        else:
            from scipy.sparse import csr_matrix
            mat = csr_matrix((a.ravel(), rows.ravel(), np.arange(0, n * t + 1, t)), shape=(n, self.cum.shape[0]))
            mixed = np.asarray(mat @ self.cum)
        prior = (self.global_cum[None, :] - g_g[:, None]) / np.maximum(1.0 - g_g, 1e-12)[:, None]
        out = mixed - (a * k_g).sum(axis=1)[:, None] + (a * weight).sum(axis=1)[:, None] * prior
        return np.clip(out, 0.0, 1.0)

    def scores(self, rows: np.ndarray, lengths: np.ndarray, g: np.ndarray, prior_weight: float) -> np.ndarray:
        """Conformal scores ``P(len < L | x, L > g)``: a request is under `invert`'s bound iff score <= tau."""
        below = np.asarray(lengths, dtype=np.float64) - 1.0
        k_g, weight, denom, g_g = self._pieces(rows, g, prior_weight)
        prior = (_interp(self.global_cum, below) - g_g) / np.maximum(1.0 - g_g, 1e-12)
        f_t = (self._leaf_counts(rows, below) - k_g + weight * prior[:, None]) / denom
        return np.clip(f_t, 0.0, 1.0).mean(axis=1)

    def predict(self, features: np.ndarray, generated: int = 0) -> int:
        """Bound on total output tokens of one request that has generated ``generated`` so far."""
        return self.predict_with_low(features, generated, None)[0]

    def prefix_checkpoint(self, generated: int, output_ids) -> int | None:
        """The prefix model a request with ``generated`` tokens and ids ``output_ids`` uses (None: none)."""
        if output_ids is None or not self.prefix_models:
            return None
        usable = [gc for gc in self.prefix_models if gc <= generated and len(output_ids) >= gc]
        return max(usable) if usable else None

    def predict_with_low(self, features: np.ndarray, generated: int = 0, low_level: float | None = 0.25,
                         output_ids=None) -> tuple[int, int | None]:
        """The calibrated bound and, from the same conditional CDF, its uncalibrated ``low_level``
        quantile (None when ``low_level`` is None): a typical-to-short total length given ``L > g``.
        ``output_ids``: the generated token ids so far, if known (lets a prefix model answer)."""
        g = max(0, int(generated))
        gc = self.prefix_checkpoint(g, output_ids)
        if gc is not None:
            row = np.concatenate([np.asarray(features, dtype=np.float32), prefix_features(output_ids, gc)])
            return self.prefix_models[gc].predict_with_low(row, g, low_level)
        if g >= MAX_LEN or 1.0 - float(_interp(self.global_cum, np.array(g))) < 1e-9:
            return 2 * g + 1, None  # beyond everything seen in training
        ci = checkpoint_index(g)
        rows = self.leaf_rows(np.asarray(features, dtype=np.float32)[None, :])
        cdf = self.cdf_at_edges(rows, np.array([float(g)]), float(self.weights[ci]))
        bound = max(g + 1, int(scale_bounds(invert(cdf, np.array([self.taus[ci]])), self.scales[ci])[0]))
        if low_level is None:
            return bound, None
        low = int(invert(cdf, np.array([float(low_level)]))[0])
        return bound, min(bound, max(g + 1, low))

    # ---- persistence ---------------------------------------------------------------------
    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """This model's arrays (keys prefixed with ``prefix``), its prefix models' included."""
        counts = self.cum.astype(np.uint32 if self.cum.max(initial=0) >= 65535 else np.uint16)
        meta = {**self.meta, "kind": KIND, "format": FORMAT_VERSION,
                "prefix_checkpoints": sorted(self.prefix_models)}
        out = dict(feature=self.feature, threshold=self.threshold, left=self.left, right=self.right,
                   depth=np.array(self.depth), leaf_row=self.leaf_row, cum=counts, global_cum=self.global_cum,
                   taus=self.taus, weights=self.weights, scales=self.scales, edges=EDGES,
                   meta=np.array(json.dumps(meta)))
        out = {prefix + k: v for k, v in out.items()}
        for gc, sub in self.prefix_models.items():
            out.update(sub.arrays(f"{prefix}p{gc}."))
        return out

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename), so a reader never sees a half-written model."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **self.arrays())
        tmp.replace(path)

    @classmethod
    def from_arrays(cls, z, meta: dict, prefix: str = "") -> SurvivalModel:
        """The model stored under keys ``prefix + name`` of ``z`` (an open npz), prefix models included."""
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"survival model format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        a = {k: z[prefix + k] for k in ("feature", "threshold", "left", "right", "depth", "leaf_row", "cum",
                                         "global_cum", "taus", "weights", "scales", "edges")}
        if not np.array_equal(a["edges"], EDGES) or not (
                len(a["taus"]) == len(a["weights"]) == len(a["scales"]) == len(CHECKPOINTS)):
            raise ValueError("survival model bins or checkpoints differ from this version's")
        shape = a["feature"].shape
        if any(a[k].shape != shape for k in ("threshold", "left", "right", "leaf_row")):
            raise ValueError("inconsistent tree array shapes")
        cum = a["cum"]
        if cum.ndim != 2 or cum.shape[1] != len(EDGES) or int(a["leaf_row"].max()) >= cum.shape[0]:
            raise ValueError("inconsistent leaf histograms")
        model = cls(a["feature"], a["threshold"], a["left"], a["right"], int(a["depth"]), a["leaf_row"], cum,
                    a["global_cum"], a["taus"], a["weights"], meta, a["scales"])
        for gc in meta.get("prefix_checkpoints", []):
            key = f"{prefix}p{int(gc)}."
            model.prefix_models[int(gc)] = cls.from_arrays(z, json.loads(str(z[key + "meta"])), key)
        return model


def load_model(path: str | Path) -> LengthModel | SurvivalModel:
    """Load either kind of length model; raises ValueError (or OSError) on a missing or bad file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("kind") == KIND:
                return SurvivalModel.from_arrays(z, meta)
    except (OSError, ValueError):
        raise
    except Exception as exc:  # zipfile/json/key errors all mean "not a model file"
        raise ValueError(f"{path}: not a length model ({type(exc).__name__}: {exc})") from exc
    return LengthModel.load(path)
