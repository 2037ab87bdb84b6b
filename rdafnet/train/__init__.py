"""Fine-tuning: losses, schedule and the trainer."""

from rdafnet.evaluation.evaluate import evaluate
from rdafnet.train.config import TrainConfig
from rdafnet.train.losses import deblur_loss, frequency_l1
from rdafnet.train.schedule import paper_lr
from rdafnet.train.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "deblur_loss", "evaluate", "frequency_l1", "paper_lr"]
