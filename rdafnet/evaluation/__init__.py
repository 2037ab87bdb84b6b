"""Evaluation: PSNR/SSIM against sharp frames, NIQE without them, before/after sheets and interactive views."""

from rdafnet.evaluation.compare import CompareView, compare
from rdafnet.evaluation.evaluate import evaluate, evaluate_no_reference
from rdafnet.evaluation.metrics import psnr, ssim

__all__ = ["CompareView", "compare", "evaluate", "evaluate_no_reference", "psnr", "ssim"]
