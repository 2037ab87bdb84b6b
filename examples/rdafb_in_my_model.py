"""Put RDAFBs into your own network and train it for a few steps.

python examples/rdafb_in_my_model.py [--steps 20]
"""

import argparse

import torch
from torch import nn

from rdafnet import RDAFB
from rdafnet.train import deblur_loss


class MyRestorer(nn.Module):
    """A plain residual restorer: conv in, a stack of RDAFBs, conv out."""

    def __init__(self, channels: int = 32, depth: int = 3) -> None:
        super().__init__()
        self.inp = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[RDAFB(channels, num_convs=3) for _ in range(depth)])
        self.out = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.body(self.inp(x)))


def main() -> float:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    steps = p.parse_args().steps
    torch.manual_seed(0)
    model = MyRestorer()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sharp = torch.rand(4, 3, 48, 48)
    blurry = nn.functional.avg_pool2d(sharp, 5, stride=1, padding=2)  # a stand-in blur
    first = None
    for _step in range(steps):
        loss = deblur_loss(model(blurry), sharp)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    print(
        f"loss {first:.4f} -> {loss.item():.4f} after {steps} steps "
        f"({sum(p.numel() for p in model.parameters()):,} parameters)"
    )
    return loss.item() / first


if __name__ == "__main__":
    main()
