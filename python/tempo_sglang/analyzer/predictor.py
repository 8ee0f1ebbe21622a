"""The length predictor used by the facade: a length model when one exists, a safe default otherwise.

`LengthPredictor.bound(features, generated, max_new_tokens)` always answers (never raises): with no
model it returns ``default_bound`` (growing once a request runs past it), with a model the calibrated
quantile. Either way the bound stays above what was generated, so ``remaining = bound - generated``
is at least ``min_remaining``. Loading a missing or broken model file warns and keeps the default.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from tempo_sglang.analyzer.length_model import LengthModel
from tempo_sglang.analyzer.survival_model import SurvivalModel, load_model
from tempo_sglang.core.views import DEFAULT_LENGTH_BOUND

logger = logging.getLogger(__name__)


class LengthPredictor:
    """Output-length bounds from the current model (swappable at any time)."""

    def __init__(self, model: LengthModel | SurvivalModel | None = None, default_bound: int = DEFAULT_LENGTH_BOUND,
                 min_remaining: int = 8):
        self.model = model
        self.default_bound = int(default_bound)
        self.min_remaining = int(min_remaining)
        self.version = 0  # bumped on every model swap

    @classmethod
    def from_path(cls, path: str | Path | None, **kwargs) -> LengthPredictor:
        """A predictor loaded from ``path``; missing or corrupt files fall back to the default."""
        predictor = cls(**kwargs)
        if path is not None:
            predictor.load(path)
        return predictor

    def load(self, path: str | Path) -> bool:
        """Swap in the model stored at ``path``; on failure warn, keep the current one, return False."""
        try:
            model = load_model(path)
        except FileNotFoundError:
            warnings.warn(f"length model {path} not found; using the default bound "
                          f"{self.default_bound} until one is trained", stacklevel=2)
            return False
        except (OSError, ValueError) as exc:
            warnings.warn(f"length model {path} unusable ({exc}); keeping the previous predictor",
                          stacklevel=2)
            return False
        self.set_model(model)
        return True

    def set_model(self, model: LengthModel | SurvivalModel | None) -> None:
        self.model = model
        self.version += 1

    @property
    def has_model(self) -> bool:
        return self.model is not None

    def prefix_checkpoint(self, generated: int, output_ids) -> int | None:
        """Generated tokens a prefix model reads for this request now (None: the prompt-only bound)."""
        model = self.model
        return model.prefix_checkpoint(generated, output_ids) if isinstance(model, SurvivalModel) else None

    def bound(self, features: np.ndarray, generated: int = 0, max_new_tokens: int | None = None,
              output_ids=None) -> int:
        """Conservative bound on the *total* output tokens of a request."""
        return self.bounds(features, generated, max_new_tokens, None, output_ids)[0]

    def bounds(self, features: np.ndarray, generated: int = 0, max_new_tokens: int | None = None,
               low_level: float | None = 0.25, output_ids=None) -> tuple[int, int | None]:
        """`bound` and a low quantile (level ``low_level``) of the total output tokens from the same
        conditional distribution; the low one is None without a survival model (nothing to read it
        from: a default bound or a checkpoint model knows only its bound). ``output_ids``: the token
        ids generated so far, when the engine has them (a survival model's prefix models read them)."""
        low = None
        if self.model is None:
            raw = self.default_bound if generated < self.default_bound else 2 * generated
        else:
            try:
                if isinstance(self.model, SurvivalModel):
                    raw, low = self.model.predict_with_low(features, generated, low_level, output_ids)
                else:
                    raw = self.model.predict(features, generated)
            except Exception:  # a model that cannot score this row must not stop the scheduler
                logger.exception("length model failed; using the default bound")
                raw, low = self.default_bound, None
        out = max(raw, generated + max(self.min_remaining, generated // 10))
        if max_new_tokens is not None:
            out = min(out, max(int(max_new_tokens), generated + 1))
        if low is not None:
            low = int(min(max(low, generated + 1), out))
        return int(out), low
