"""``TrainConfig``: the training hyperparameters, checked when made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Hyperparameters; defaults follow the paper (Adam 1e-4, betas 0.9/0.99, eq. 11 schedule)."""

    steps: int = 1000
    batch_size: int = 4  # per process
    lr: float = 1e-4
    min_lr: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.99)
    constant_fraction: float = 0.1
    grad_clip: float | None = 0.01  # gradient-norm clip of the authors' code
    freq_weight: float = 0.1
    ema: float | None = None  # e.g. 0.999; validation and exports then use the EMA weights
    val_every: int = 500
    ckpt_every: int = 100
    ckpt_minutes: float | None = 5.0  # also checkpoint when this long has passed since the last one
    max_minutes: float | None = None  # stop cleanly after this much wall time (best/ and final/ written)
    log_every: int = 10
    num_workers: int = 0  # processes that prepare batches ahead of the model (0: this one)
    amp: bool = True  # bf16 autocast (CUDA, and CPUs with native bf16: AVX512-BF16/AMX)
    # NHWC activations; None: exactly when bf16 autocast runs, NCHW for fp32 (each the faster layout
    # there; docs/training.md has the step times)
    channels_last: bool | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, recorded in the log/model card

    def __post_init__(self) -> None:
        """Every value is checked before anything runs: a bad one is a ``ValueError`` naming it and its range
        (``steps=0`` would write untrained weights, ``ema=1`` weights that never move)."""

        def num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        def whole(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        rules = {
            "steps": (whole(self.steps) and self.steps >= 1, "an integer >= 1"),
            "batch_size": (whole(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
            "lr": (num(self.lr) and self.lr > 0, "a number > 0"),
            "min_lr": (num(self.min_lr) and 0 <= self.min_lr <= self.lr if num(self.lr) else False, "in [0, lr]"),
            "betas": (len(self.betas) == 2 and all(num(b) and 0 <= b < 1 for b in self.betas), "two numbers in [0, 1)"),
            "constant_fraction": (num(self.constant_fraction) and 0 <= self.constant_fraction <= 1, "in [0, 1]"),
            "grad_clip": (
                self.grad_clip is None or (num(self.grad_clip) and self.grad_clip > 0),
                "a number > 0, or None (no clipping)",
            ),
            "freq_weight": (num(self.freq_weight) and self.freq_weight >= 0, "a number >= 0"),
            "ema": (self.ema is None or (num(self.ema) and 0 <= self.ema < 1), "in [0, 1), or None (no EMA)"),
            "val_every": (whole(self.val_every) and self.val_every >= 1, "an integer >= 1"),
            "ckpt_every": (whole(self.ckpt_every) and self.ckpt_every >= 1, "an integer >= 1"),
            "ckpt_minutes": (
                self.ckpt_minutes is None or (num(self.ckpt_minutes) and self.ckpt_minutes >= 0),
                "a number >= 0 (0: after every step), or None",
            ),
            "max_minutes": (
                self.max_minutes is None or (num(self.max_minutes) and self.max_minutes > 0),
                "a number > 0, or None",
            ),
            "log_every": (whole(self.log_every) and self.log_every >= 1, "an integer >= 1"),
            "num_workers": (whole(self.num_workers) and self.num_workers >= 0, "an integer >= 0"),
            "seed": (whole(self.seed), "an integer"),
        }
        wrong = [f"{k}={getattr(self, k)!r} (must be {what})" for k, (ok, what) in rules.items() if not ok]
        if wrong:
            raise ValueError(f"invalid training settings: {'; '.join(wrong)}")
