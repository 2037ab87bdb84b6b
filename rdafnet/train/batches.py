"""The batches of each training step (deterministic per step, whoever makes them) and the validation-pair checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rdafnet.data.pairs import PairedImages


def check_validation_pairs(pairs: list[tuple[Path, Path]]) -> None:
    """Validation pairs must be readable RGB(A) images of one size each: checked before the first step,
    not found out at the first validation."""
    from rdafnet.io.image import read_image

    for blur, sharp in pairs:
        try:
            b, s = read_image(blur), read_image(sharp)
        except ValueError as exc:
            raise ValueError(f"validation pair {blur} / {sharp}: {exc}") from None
        if b.shape[:2] != s.shape[:2]:
            raise ValueError(
                f"validation pair {blur} / {sharp}: sizes differ ({b.shape[1]}x{b.shape[0]} and "
                f"{s.shape[1]}x{s.shape[0]})"
            )
        if b.shape[2] < 3 or s.shape[2] < 3:
            raise ValueError(
                f"validation pair {blur} / {sharp} is grayscale; the networks restore RGB: convert "
                "the pair to RGB, or leave it out of --val"
            )


class StepBatches(torch.utils.data.Dataset):
    """Item ``step`` is the (blurry, sharp) batch of that training step for process ``rank`` of
    ``world``: sample position ``p = (step * world + rank) * batch_size + j`` is sample ``p mod n`` of
    a permutation drawn from ``(seed, epoch = p // n)``, so the data order survives a resume and does
    not depend on which worker process builds the batch."""

    def __init__(self, samples: PairedImages, *, seed: int, batch_size: int, world: int = 1, rank: int = 0) -> None:
        self.samples, self.seed, self.batch_size, self.world, self.rank = samples, seed, batch_size, world, rank
        self._perm: tuple[int, np.ndarray] | None = None  # the permutation of the last epoch used

    def __len__(self) -> int:
        raise TypeError("StepBatches is indexed by step number and has no length")

    def _order(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng((self.seed, 1, epoch)).permutation(len(self.samples)))
        return self._perm[1]

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, str]]]:
        """The batch of ``step``, and the (pair, reason) of each pair that could not be read: the next
        pair of the epoch's order takes its place, so the batch is still the same on every run."""
        n, b = len(self.samples), self.batch_size
        blurs, sharps, skipped = [], [], []
        for j in range(b):
            epoch, pos = divmod((step * self.world + self.rank) * b + j, n)
            self.samples.set_epoch(epoch)
            for k in range(n):
                i = int(self._order(epoch)[(pos + k) % n])
                try:
                    x, y = self.samples[i]
                    break
                except (ValueError, OSError) as exc:  # truncated, undecodable, sizes that differ
                    blur, sharp = self.samples.pairs[i]
                    skipped.append((f"{blur} / {sharp}", (str(exc).splitlines() or [type(exc).__name__])[0]))
            else:
                raise ValueError(f"no training pair can be read; the first: {skipped[0][0]}: {skipped[0][1]}")
            blurs.append(x)
            sharps.append(y)
        return torch.stack(blurs), torch.stack(sharps), skipped
