"""The trainer: Adam, the paper's schedule, clipping, AMP, EMA, validation, atomic resumable
checkpoints, and DDP (``torchrun``) on the same code path as a single CPU."""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from rdafnet.data.pairs import PairedImages, check_training_scenes, scene_of
from rdafnet.evaluation.evaluate import evaluate
from rdafnet.models.networks import RDAFNetBase
from rdafnet.train.batches import StepBatches, check_validation_pairs
from rdafnet.train.config import TrainConfig
from rdafnet.train.losses import deblur_loss
from rdafnet.train.resume import differences, record_changes, run_settings
from rdafnet.train.schedule import paper_lr
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.checkpoint import load_strict
from rdafnet.utils.device import bf16_native
from rdafnet.utils.distributed import rank_and_world
from rdafnet.utils.lock import exclusive
from rdafnet.utils.signals import Interrupted, ignore_stop_signals, stop_signals


class Trainer:
    """Train ``model`` on ``train_set``; write ``out_dir/{checkpoint.pt, log.csv, best/, final/}``.

    Killing the process at any moment and calling ``fit()`` again with the same arguments resumes
    from the last checkpoint and reproduces the uninterrupted run: the sample order and the
    augmentation depend only on ``(seed, step)``. SIGTERM, SIGHUP or SIGINT end the current step, write
    the checkpoint and raise :class:`~rdafnet.utils.signals.Interrupted`. A pair that cannot be read is
    skipped with a warning (the next pair of the epoch's order takes its place, so a resumed run draws the
    same). A non-finite loss or gradient stops the run before the step is applied; non-finite weights are
    never written.
    """

    def __init__(
        self,
        model: RDAFNetBase,
        train_set: PairedImages,
        out_dir: str | os.PathLike,
        config: TrainConfig,
        *,
        val_pairs: list[tuple[Path, Path]] | None = None,
        device: str | torch.device | None = None,
        accept_changes: bool = False,
    ) -> None:
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise ValueError(
                f"{out_dir} is a file; the output (-o) is the run's folder (checkpoint, logs, best/, "
                "final/): name a new or existing folder"
            )
        check_training_scenes(train_set.pairs)
        check_validation_pairs(val_pairs or [])
        self.config = config
        self.accept_changes = accept_changes  # resume a checkpoint written with other settings (recorded)
        self.out_dir = Path(out_dir)
        self.train_set = train_set
        self.val_pairs = val_pairs or []
        self.train_scenes = frozenset(scene_of(b) for b, _ in train_set.pairs)
        self.rank, self.world = rank_and_world()
        if device is None:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.use_amp = config.amp and bf16_native(self.device)
        if config.channels_last is None:
            config = self.config = replace(config, channels_last=self.use_amp)
        torch.manual_seed(config.seed)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if config.ema else None
        self.net: nn.Module = self.model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(config.betas[0], config.betas[1]))
        self.step = 0
        self.best = -math.inf
        self.ckpt_path = self.out_dir / "checkpoint.pt"
        self.saved_step: int | None = None  # the step checkpoint.pt holds
        self.skipped: dict[str, str] = {}  # unreadable training pairs -> why
        self.batches = StepBatches(
            train_set, seed=config.seed, batch_size=config.batch_size, world=self.world, rank=self.rank
        )

    def _loader(self) -> Generator[tuple[torch.Tensor, torch.Tensor], None, None]:
        """The batches of steps ``self.step ... steps - 1``, made by ``num_workers`` processes ahead of
        the model (or in this process with 0); each batch depends only on its step, not on who makes it."""
        workers = self.config.num_workers
        loader = torch.utils.data.DataLoader(
            self.batches,
            sampler=range(self.step, self.config.steps),
            batch_size=None,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
            worker_init_fn=ignore_stop_signals if workers else None,
        )
        for blur, sharp, skipped in loader:
            for pair, why in skipped:
                if pair not in self.skipped and self.rank == 0:
                    print(f"warning: skipping training pair {pair}: {why}", file=sys.stderr)
                self.skipped[pair] = why
            blur, sharp = blur.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)
            if self.config.channels_last:
                blur = blur.contiguous(memory_format=torch.channels_last)
            yield blur, sharp

    def _state(self) -> dict[str, Any]:
        config = getattr(self.model, "config", None)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "best_score": self.best,
            "ema": self.ema.state_dict() if self.ema else {},
            "model_config": json.dumps(config, sort_keys=True) if isinstance(config, dict) else "",
            "skipped": json.dumps(self.skipped),
            "settings": json.dumps(run_settings(self.config, self.train_set)),
        }

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically; non-finite weights are refused (the last good checkpoint
        stays), and a full disk is one error naming the file and the space it needs."""
        if self.rank == 0:
            self._check_finite(f"writing {self.ckpt_path}")
            state = self._state()
            size = sum(t.numel() * t.element_size() for t in _tensors(state))
            atomic_write(self.ckpt_path, lambda tmp: torch.save(state, tmp), need=size)
            self.saved_step = self.step

    def _interrupted(self, signum: int) -> None:
        """A stop signal arrived: write the checkpoint at this step boundary and raise ``Interrupted``."""
        self.save_checkpoint()
        raise Interrupted(
            signum,
            f"stopped by {signal.Signals(signum).name} at step {self.step}: {self.ckpt_path} holds it; "
            "run the same command to resume",
        )

    def _check_finite(self, doing: str) -> None:
        models = [self.model] + ([self.ema] if self.ema is not None else [])
        if not all(torch.isfinite(p).all() for m in models for p in m.parameters()):
            raise self._diverged(f"the weights are not finite; refused {doing}")

    def _diverged(self, what: str, lr: float | None = None) -> ValueError:
        at = f"lr {lr:.3g}, " if lr is not None else ""
        last = (
            f"{self.ckpt_path} (step {self.saved_step}) is the last good state: resume it with a lower --lr, "
            "or start over with --restart"
            if self.saved_step is not None
            else "no checkpoint was written: start again with a lower --lr"
        )
        return ValueError(f"training diverged at step {self.step + 1} ({at}{what}); {last}")

    def load_checkpoint(self) -> bool:
        """Resume from ``checkpoint.pt`` if there is one. A checkpoint that cannot be read, or that holds
        another network than this run's, is an error that names the file, the difference and how to start
        over (:meth:`restart`, ``rdafnet train --restart``); nothing is changed."""
        if not self.ckpt_path.exists():
            return False
        how = (
            f"resume with the settings that wrote it, or start over with `rdafnet train ... --restart` "
            f"(Trainer.restart()), which moves it and the run's logs into {self.out_dir}/previous-*/"
        )
        try:
            state = torch.load(self.ckpt_path, map_location=self.device, weights_only=True)
            missing = {"model", "optimizer", "step"} - set(state)
            if missing:
                raise ValueError(f"it lacks {', '.join(sorted(missing))}")
        except Exception as exc:  # noqa: BLE001 - truncated, damaged or foreign: one message, what to do
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ValueError(
                f"cannot resume from {self.ckpt_path}: not a readable training checkpoint ({reason}); " + how
            ) from None
        saved, ours = state.get("model_config") or "", getattr(self.model, "config", None)
        if saved and isinstance(ours, dict):
            theirs = json.loads(saved)
            diff = [
                f"{k}: checkpoint {theirs.get(k)!r}, this run {ours.get(k)!r}"
                for k in sorted(set(theirs) | set(ours))
                if k not in ("rdafnet_version",) and theirs.get(k) != ours.get(k)
            ]
            if diff:
                raise ValueError(f"{self.ckpt_path} holds another network than this run's ({'; '.join(diff)}); " + how)
        changed = differences(json.loads(state.get("settings") or "{}"), run_settings(self.config, self.train_set))
        if changed and not self.accept_changes:
            raise ValueError(
                f"{self.ckpt_path} was written with other settings ({'; '.join(changed)}); resume with the "
                "settings that wrote it, pass --accept-changes (accept_changes=True) to go on with these (recorded "
                f"in {self.out_dir / 'config.json'}), or start over with --restart"
            )
        try:
            load_strict(self.model, state["model"], source=str(self.ckpt_path))
            self.opt.load_state_dict(state["optimizer"])
            if self.ema is not None and state.get("ema"):
                self.ema.load_state_dict(state["ema"])
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ValueError(f"cannot resume from {self.ckpt_path}: {str(exc).splitlines()[0][:300]}; " + how) from None
        # checkpoints from before held-out-scene validation kept a PSNR under "best", not a gain: such a
        # run starts its best/ selection afresh rather than compare a gain with a PSNR
        self.step, self.best = int(state["step"]), float(state.get("best_score", -math.inf))
        self.saved_step = self.step
        self.skipped = json.loads(state.get("skipped") or "{}")
        if changed and self.rank == 0:
            record_changes(self.out_dir / "config.json", self.step, changed)
        return True

    def restart(self) -> Path | None:
        """Start this run over: move its checkpoint and logs (``checkpoint.pt``, ``log.csv``, ``val.csv``,
        ``config.json``) into ``out_dir/previous-<time>/`` (nothing is deleted); returns that folder."""
        files = [self.out_dir / n for n in ("checkpoint.pt", "log.csv", "val.csv", "config.json")]
        files = [f for f in files if f.exists()]
        if not files or self.rank != 0:
            return None
        keep = self.out_dir / time.strftime("previous-%Y%m%d-%H%M%S")
        keep.mkdir()
        for f in files:
            os.replace(f, keep / f.name)
        return keep

    def _log(self, row: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        path = self.out_dir / "log.csv"
        fields = ["step", "loss", "lr", "val_psnr", "val_ssim", "val_gain", "val_gain_heldout", "seconds", "skipped"]
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def validate(self) -> dict[str, float]:
        """Mean PSNR/SSIM and PSNR gain over the validation frames, the gain on frames of scenes the
        training data does not hold (``val_gain_heldout``), and the gain per scene (``gain/<scene>``,
        ``gain/<scene> (seen)`` where the scene is trained on). Each frame goes to ``val.csv``."""
        model = self.ema or self.model
        rows = evaluate(model, self.val_pairs, device=self.device) or []  # (None only on ranks > 0 of a shard)
        model.train()
        for r in rows:
            r.update(step=self.step, gain=r["psnr"] - r["psnr_blur"], held_out=r["scene"] not in self.train_scenes)
        path = self.out_dir / "val.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(
                f,
                fieldnames=["step", "image", "scene", "held_out", "psnr_blur", "psnr", "gain", "ssim_blur", "ssim"],
                extrasaction="ignore",
            )
            if new:
                w.writeheader()
            w.writerows(rows)
        metrics = {
            "val_psnr": float(np.mean([r["psnr"] for r in rows])),
            "val_ssim": float(np.mean([r["ssim"] for r in rows])),
            "val_gain": float(np.mean([r["gain"] for r in rows])),
        }
        held = [r["gain"] for r in rows if r["held_out"]]
        if held:
            metrics["val_gain_heldout"] = float(np.mean(held))
        for scene in sorted({r["scene"] for r in rows}):
            suffix = "" if scene not in self.train_scenes else " (seen)"
            metrics[f"gain/{scene}{suffix}"] = float(np.mean([r["gain"] for r in rows if r["scene"] == scene]))
        return metrics

    @staticmethod
    def score(metrics: dict[str, float]) -> float:
        """What ``best/`` maximises: the gain on held-out scenes where validation has such frames,
        otherwise the gain over all validation frames."""
        return metrics.get("val_gain_heldout", metrics["val_gain"])

    def _export(self, name: str, metrics: dict[str, float] | None = None) -> None:
        if self.rank == 0:
            self._check_finite(f"exporting {self.out_dir / name}")
            model = self.ema or self.model
            model.save_pretrained(self.out_dir / name)
            info = {"step": self.step, "config": asdict(self.config), **(metrics or {})}
            atomic_write(
                self.out_dir / name / "training.json", lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2))
            )

    def _stop(self, t0: float, signalled: int | None) -> int:
        """Why to stop before the next step: 0 go on, -1 ``max_minutes`` has passed, or the number of a
        stop signal that arrived; every process of a DDP run gets rank 0's answer."""
        limit = self.config.max_minutes
        code = signalled or (-1 if limit is not None and time.time() - t0 >= 60 * limit else 0)
        if self.world > 1:
            flag = torch.tensor([code], dtype=torch.int32, device=self.device)
            dist.broadcast(flag, 0)
            code = int(flag.item())
        return code

    def _validate_and_keep_best(self, row: dict[str, Any]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.rank == 0:
            metrics = self.validate()
            row.update({k: f"{v:.4f}" for k, v in metrics.items() if "/" not in k})
            if self.score(metrics) > self.best:
                self.best = self.score(metrics)
                self._export("best", metrics)
        if self.world > 1:
            dist.barrier()
        return metrics

    def fit(self, *, progress: bool = True) -> dict[str, float]:
        """Train to ``config.steps``, or until ``config.max_minutes`` of wall time have passed in this
        call; either way ``best/`` (with validation pairs), ``final/`` and the checkpoint are written.
        A second run on the same ``out_dir`` while this one trains is refused (its PID is named)."""
        with exclusive(self.out_dir, "rdafnet training"), stop_signals(defer=True) as signalled:
            return self._fit(progress=progress, signalled=signalled)

    def _fit(self, *, progress: bool, signalled: Callable[[], int | None]) -> dict[str, float]:
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.load_checkpoint()
        if self.rank == 0 and not resumed:
            (self.out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        if self.rank == 0 and resumed and self.step >= cfg.steps:
            print(
                f"{self.ckpt_path} is already at step {self.step}, at or past steps={cfg.steps}: "
                "nothing to train (pass a larger --steps to go on, or --restart to start over)",
                file=sys.stderr,
            )
        bar = None
        if progress and self.rank == 0:
            from rdafnet.utils.progress import progress_bar

            bar = progress_bar(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True)
        self.model.train()
        t0 = time.time()
        batches = self._loader()
        try:
            metrics, validated_at = self._train_steps(batches, bar, t0, signalled)
        finally:
            batches.close()  # stops the loader's worker processes
            if bar is not None:
                bar.close()
        if self.skipped and self.rank == 0:
            print(
                f"skipped {len(self.skipped)} unreadable training pair(s): {', '.join(sorted(self.skipped))}",
                file=sys.stderr,
            )
        if self.step < cfg.steps:  # stopped by the clock: keep what this run reached
            row = {"step": self.step, "seconds": f"{time.time() - t0:.1f}"}
            if self.val_pairs and validated_at != self.step:
                metrics = self._validate_and_keep_best(row)
                self._log(row)
            self.save_checkpoint()
        self._export("final", metrics)
        if self.world > 1:
            dist.barrier()  # no rank leaves (and tears the group down) while rank 0 still writes
        return metrics

    def _train_steps(
        self, batches: Generator[Any, None, None], bar: Any, t0: float, signalled: Callable[[], int | None]
    ) -> tuple[dict[str, float], int]:
        """Steps up to ``config.steps`` (or a stop); returns the last validation metrics and their step."""
        cfg = self.config
        last_ckpt = t0
        metrics: dict[str, float] = {}
        validated_at = -1
        while self.step < cfg.steps:
            stop = self._stop(t0, signalled())
            if stop > 0:
                self._interrupted(stop)
            if stop < 0:
                if self.rank == 0:
                    print(f"stopping at step {self.step}: --max-minutes {cfg.max_minutes} reached")
                break
            lr = paper_lr(
                self.step, total_steps=cfg.steps, lr=cfg.lr, min_lr=cfg.min_lr, constant_fraction=cfg.constant_fraction
            )
            for g in self.opt.param_groups:
                g["lr"] = lr
            try:
                blur, sharp = next(batches)
            except Exception:  # the loader's workers got the stop signal too
                if signalled() is None:
                    raise
                continue
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                stages = self.net(blur, return_stages=True)
            loss = deblur_loss([s.float() for s in stages], sharp, freq_weight=cfg.freq_weight)
            if not torch.isfinite(loss):
                raise self._diverged(f"the loss is {loss.item()}", lr)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or math.inf)
            if not torch.isfinite(norm):
                raise self._diverged(f"the gradient norm is {norm.item()}", lr)
            self.opt.step()
            if self.ema is not None:
                with torch.no_grad():
                    for e, p in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
                        e.lerp_(p, 1 - (cfg.ema or 0)) if e.is_floating_point() else e.copy_(p)
            self.step += 1
            row = {
                "step": self.step,
                "loss": f"{loss.item():.5f}",
                "lr": f"{lr:.3g}",
                "seconds": f"{time.time() - t0:.1f}",
                "skipped": len(self.skipped),
            }
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2g}")
            if self.val_pairs and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                metrics = self._validate_and_keep_best(row)
                validated_at = self.step
            if self.step % cfg.log_every == 0 or "val_psnr" in row:
                self._log(row)
            minutes = (time.time() - last_ckpt) / 60
            if (
                self.step % cfg.ckpt_every == 0
                or self.step == cfg.steps
                or (cfg.ckpt_minutes is not None and minutes >= cfg.ckpt_minutes)
            ):
                self.save_checkpoint()
                last_ckpt = time.time()
        return metrics, validated_at


def _tensors(state: Any) -> Iterable[torch.Tensor]:
    """Every tensor in a nested checkpoint state (to size the file before it is written)."""
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, dict):
        for v in state.values():
            yield from _tensors(v)
    elif isinstance(state, (list, tuple)):
        for v in state:
            yield from _tensors(v)
