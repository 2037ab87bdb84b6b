"""Evaluation: PSNR/SSIM against sharp frames, NIQE without them, and before/after sheets."""

from rdafnet.evaluation.evaluate import evaluate, evaluate_no_reference
from rdafnet.evaluation.metrics import psnr, ssim

__all__ = ["evaluate", "evaluate_no_reference", "psnr", "ssim"]
