"""Fine-tune the bundled model on a folder of pairs (``DIR/blur/*.png`` + ``DIR/sharp/*.png``).

    python examples/finetune.py PAIRS_DIR OUT_DIR [--steps 200] [--crop 256]

The same as ``rdafnet train --data PAIRS_DIR --from rdafnet-tiny-gopro-v4 -o OUT_DIR``; shown in
Python so each piece can be swapped. The result loads with ``rdafnet.from_pretrained(OUT_DIR/final)``.
"""

import argparse

import rdafnet
from rdafnet.data import PairedImages, find_pairs
from rdafnet.train import TrainConfig, Trainer


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("pairs")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--val", default=None, help="folder of full-frame validation pairs")
    a = p.parse_args()
    model = rdafnet.from_pretrained()  # start from the bundled weights
    train = PairedImages(find_pairs(a.pairs), crop=a.crop, seed=0)
    config = TrainConfig(
        steps=a.steps, batch_size=4, lr=1e-4, val_every=max(1, a.steps // 4), ckpt_every=max(1, a.steps // 10)
    )
    metrics = Trainer(model, train, a.out, config, val_pairs=find_pairs(a.val) if a.val else None).fit()
    print(f"done: {a.out}/final", metrics)
    return metrics


if __name__ == "__main__":
    main()
