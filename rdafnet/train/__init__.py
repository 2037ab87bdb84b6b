"""Fine-tuning: losses, schedule and the trainer."""
from ..evaluate import evaluate
from .losses import deblur_loss, frequency_l1
from .schedule import paper_lr
from .trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer", "deblur_loss", "evaluate", "frequency_l1", "paper_lr"]
