"""Fine-tuning: losses, schedule and the trainer."""
from .losses import deblur_loss, frequency_l1
from .schedule import paper_lr
from .trainer import TrainConfig, Trainer, evaluate

__all__ = ["TrainConfig", "Trainer", "deblur_loss", "evaluate", "frequency_l1", "paper_lr"]
