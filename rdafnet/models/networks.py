"""RDAFNet networks (single-stage and multi-stage), their config schema and ``from_config()``."""

from __future__ import annotations

import inspect
import json
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from rdafnet.layers import RDAFB, CrossStageFusion, SupervisedAttention
from rdafnet.layers.fused import unfused_state_dict
from rdafnet.layers.quant import Int8Conv2d
from rdafnet.layers.rdafb import ATTENTION_MODES, AttentionMode
from rdafnet.models.identity import attach_identity, saved_identity
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.checkpoint import (
    WEIGHTS_NAME,
    load_strict,
    read_safetensors,
    save_safetensors,
    sha256,
    verify_sha256,
)
from rdafnet.utils.device import PRECISIONS, warn_if_emulated
from rdafnet.utils.tensor import check_count, check_image_batch, pad_to_multiple

_HUB = dict(
    library_name="rdafnet",
    license="mit",
    pipeline_tag="image-to-image",
    tags=["image-deblurring", "motion-deblurring", "rdafnet", "pytorch"],
)


class EncoderDecoder(nn.Module):
    """One RDAFNet stage: 7x7 head, stride-2 down, RDAFB stack, stride-2 up, 5x5 skip fusion.

    ``forward`` takes the head features (after an optional cross-stage merge) and returns the
    decoder features plus the encoder/decoder taps (input of block ``n // 2`` and output of the
    last block) that cross-stage fusion passes to the next stage.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        width: int = 64,
        num_blocks: int = 16,
        negative_slope: float = 0.2,
        **block_kwargs: Any,
    ) -> None:
        super().__init__()
        check_count("width", width, 1)
        check_count("num_blocks", num_blocks, 1)
        self.negative_slope = negative_slope
        self.head = nn.Conv2d(in_channels, width, 7, padding=3, bias=False)
        self.down = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False)
        self.blocks = nn.ModuleList(
            RDAFB(2 * width, negative_slope=negative_slope, feature_stride=2, **block_kwargs) for _ in range(num_blocks)
        )
        self.up = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False)
        self.fuse = nn.Conv2d(2 * width, width, 5, padding=2, bias=False)

    def embed(self, img: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.head(img), self.negative_slope)

    def forward(
        self,
        e: torch.Tensor,
        *,
        csff: CrossStageFusion | None = None,
        prev: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        act = self.negative_slope
        h = F.leaky_relu(self.down(e), act)
        mid = len(self.blocks) // 2
        enc = h
        for i, block in enumerate(self.blocks):
            if i == mid:
                if csff is not None and prev is not None:
                    h = csff(h, *prev)
                enc = h
            h = block(h)
        d = F.leaky_relu(self.fuse(torch.cat([e, F.leaky_relu(self.up(h), act)], dim=1)), act)
        return d, enc, h


class RDAFNetBase(nn.Module):
    """What every RDAFNet network promises, in one place (the inference contract).

    - input: a float (B, 3, H, W) tensor in ``input_range`` [0, 1], any H and W >= 1; sizes that
      are not a multiple of ``size_multiple`` (or smaller than ``min_size``) are padded inside and
      cropped back, so the output always has the input's shape and dtype;
    - output: the restored image in [0, 1]; ``return_stages=True`` gives each of the
      ``num_stages`` stage outputs, the last one being the result;
    - ``precisions``: what ``rdafnet.optimize(model, precision=...)`` accepts;
    - ``config``: everything needed to rebuild the network (``config.json``), ``variant`` its
      registered name.
    """

    input_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    size_multiple: ClassVar[int] = 2  # one stride-2 down/up pair
    min_size: ClassVar[int] = 4  # reflect padding inside the blocks needs >= 2 pixels at half resolution
    precisions: ClassVar[tuple[str, ...]] = tuple(PRECISIONS)
    variant: str | None
    autocast_dtype: torch.dtype | None = None  # set by rdafnet.optimize(..., precision="bf16")
    pretrained: dict[str, Any] | None = None  # what rdafnet.from_pretrained loaded: name, source, licence, metrics
    card_text: str | None = None  # the model card that came with the loaded weights (kept by save_pretrained)

    def forward(self, x: torch.Tensor, *, return_stages: bool = False) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Restore ``x`` (B, 3, H, W) in [0, 1]; ``return_stages`` returns every stage's output."""
        if not torch.compiler.is_compiling():
            check_image_batch(x)
        h, w = x.shape[-2:]
        xp = pad_to_multiple(x, self.size_multiple, min_size=self.min_size)
        dtype = self.autocast_dtype  # (no autocast context otherwise: a caller's one stays active)
        if dtype is not None and not torch.compiler.is_compiling():
            warn_if_emulated(x.device, dtype)
        if dtype is None:  # an fp16 image into fp32 weights (or the reverse): the weights' dtype
            xp = xp.to(next(self.parameters()).dtype)
        with torch.autocast(x.device.type, dtype=dtype) if dtype is not None else nullcontext():
            outs = self.forward_signed(xp * 2 - 1)
        outs = tuple(((o[..., :h, :w] + 1) / 2).to(x.dtype) for o in outs)
        return outs if return_stages else outs[-1]

    def forward_signed(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The authors' network on [-1, 1] images of even size; returns each stage's output."""
        raise NotImplementedError

    @property
    def num_stages(self) -> int:
        return 1

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this network (saved as ``config.json``)."""
        from rdafnet._version import __version__

        mixin_config: dict[str, Any] = getattr(self, "_hub_mixin_config", None) or {}
        hp = {k: (list(v) if isinstance(v, tuple) else v) for k, v in mixin_config.items()}
        return {
            "architecture": type(self).__name__,
            **hp,
            "input_range": [0.0, 1.0],
            "size_multiple": self.size_multiple,
            "rdafnet_version": __version__,
        }

    # -- Hugging Face Hub integration (save_pretrained / push_to_hub come from the mixin)
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        model_card_kwargs: dict[str, Any] | None = None,
        push_to_hub: bool = False,
        repo_id: str | None = None,
        config: dict[str, Any] | None = None,
        **push_kwargs: Any,
    ) -> str | None:
        """Write ``model.safetensors`` (config in its metadata too), ``config.json`` and a model card
        ``README.md`` to ``save_directory``, each atomically: a failed write (a full disk) leaves the earlier
        files as they were. ``push_to_hub=True, repo_id=...`` publishes them. A ``README.md`` there that is
        not a card this library wrote is kept (and no card is written). ``config`` is always this network's.

        A model loaded by name keeps its identity: ``config.json`` records its ``pretrained`` entry (name,
        source, licence, metrics) and the card is the one it came with; once its weights changed, both
        name it as the base model instead."""
        folder = Path(save_directory)
        card = {"source": (repo_id if push_to_hub else None) or str(folder), **(model_card_kwargs or {})}
        folder.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(folder)
        readme = folder / "README.md"
        if not readme.is_file() or "library_name: rdafnet" in readme.read_text(errors="replace")[:2000]:
            self.generate_model_card(**card).save(readme)  # ours (or none): written afresh
        if push_to_hub:
            return self.push_to_hub(repo_id or folder.name, model_card_kwargs=model_card_kwargs, **push_kwargs)
        return None

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Publish to the Hub (see ``save_pretrained``); the card's usage example names ``repo_id``."""
        card = {"source": repo_id, **(model_card_kwargs or {})}
        return super().push_to_hub(repo_id, model_card_kwargs=card, **kwargs)  # type: ignore[misc]

    def _save_pretrained(self, save_directory: Path) -> None:
        if any(isinstance(m, Int8Conv2d) for m in self.modules()):
            raise ValueError(
                "this model was optimized with precision='int8': its convolutions hold rounded weights. Save the "
                "model before rdafnet.optimize, and optimize it again after loading"
            )
        if self.autocast_dtype is not None:
            raise ValueError(
                f"this model was optimized with a reduced precision ({self.autocast_dtype}): its weights are "
                "stored rounded. Save the model before rdafnet.optimize, and optimize it again after loading"
            )
        # an fp32 model made by rdafnet.optimize saves the layout of the original blocks: it loads as usual
        sd = {k: v.detach().contiguous().cpu() for k, v in unfused_state_dict(self).items()}
        meta = {"rdafnet.config": json.dumps(self.config), "format": "pt"}
        need = sum(t.numel() * t.element_size() for t in sd.values())
        atomic_write(save_directory / WEIGHTS_NAME, lambda tmp: save_safetensors(sd, tmp, meta), need=need)
        # the weights' sha256 goes into config.json, and loading a folder checks it
        config = {**self.config, "weights_sha256": sha256(save_directory / WEIGHTS_NAME)}
        identity = saved_identity(self)
        if identity:
            config["pretrained"] = identity
        text = json.dumps(config, indent=2, sort_keys=True)
        atomic_write(save_directory / "config.json", lambda tmp: Path(tmp).write_text(text))

    def generate_model_card(self, *args: Any, **kwargs: Any):
        from rdafnet.models.card import RDAFNetCard, model_card

        identity = saved_identity(self)
        if self.card_text and identity and "name" in identity and set(kwargs) <= {"source"}:
            return RDAFNetCard(self.card_text)  # the card the loaded weights came with
        return model_card(self, identity=identity, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | os.PathLike | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict[str, Any] | None = None,
        **model_kwargs: Any,
    ) -> RDAFNetBase:
        """The Hub mixin's loading hook behind ``RDAFNet.from_pretrained(folder_or_hub_id)``: the
        config must name this class, and the weights load strictly. :func:`rdafnet.from_pretrained`
        also takes registered names, single files and the authors' checkpoints."""
        if config is None:
            raise ValueError(
                f"{model_id} has no config.json; expected a folder or hub repository written by save_pretrained()"
            )
        model = from_config(config)
        if not isinstance(model, cls):
            raise ValueError(f"{model_id} holds a {type(model).__name__}, not a {cls.__name__}")
        if os.path.isdir(model_id):
            path = Path(model_id) / WEIGHTS_NAME
        else:
            from huggingface_hub import hf_hub_download

            path = Path(
                hf_hub_download(
                    model_id,
                    WEIGHTS_NAME,
                    revision=revision,
                    cache_dir=None if cache_dir is None else str(cache_dir),
                    force_download=force_download,
                    local_files_only=local_files_only,
                    token=token,
                )
            )
        verify_cached_blob(path)
        if "weights_sha256" in config:
            verify_sha256(path, config["weights_sha256"])
        load_strict(model, read_safetensors(path), source=str(path))
        if config.get("pretrained"):
            attach_identity(model, {**config["pretrained"], "loaded_from": model_id})
        return model.eval()


class RDAFNet(RDAFNetBase, PyTorchModelHubMixin, **_HUB):  # type: ignore[misc]  # our loading hook is keyword-only
    """Single-stage RDAFNet: one encoder-decoder with ``num_blocks`` RDAFBs and a global residual."""

    def __init__(
        self,
        *,
        width: int = 64,
        num_blocks: int = 16,
        num_convs: int = 4,
        attention: AttentionMode = "fusion",
        residual: bool = True,
        negative_slope: float = 0.2,
        variant: str | None = None,
    ) -> None:
        super().__init__()
        self.variant = variant
        self.body = EncoderDecoder(
            width=width,
            num_blocks=num_blocks,
            num_convs=num_convs,
            attention=attention,
            residual=residual,
            negative_slope=negative_slope,
        )
        self.tail = nn.Conv2d(width, 3, 7, padding=3, bias=False)

    def forward_signed(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d, _, _ = self.body(self.body.embed(img))
        return (torch.clamp(torch.tanh(self.tail(d)) + img, -1, 1),)


class RDAFNetMultiStage(RDAFNetBase, PyTorchModelHubMixin, **_HUB):  # type: ignore[misc]  # as above
    """Multi-stage RDAFNet: stages linked by SAM (features) and CSFF (encoder/decoder taps)."""

    def __init__(
        self,
        *,
        width: int = 64,
        num_blocks: tuple[int, ...] | list[int] = (10, 10, 12),
        num_convs: int = 4,
        attention: AttentionMode = "fusion",
        residual: bool = True,
        negative_slope: float = 0.2,
        variant: str | None = None,
    ) -> None:
        super().__init__()
        if len(num_blocks) < 2:
            raise ValueError(f"a multi-stage net needs >= 2 stages, got num_blocks={tuple(num_blocks)}")
        self.variant = variant
        self.stages = nn.ModuleList(
            EncoderDecoder(
                width=width,
                num_blocks=n,
                num_convs=num_convs,
                attention=attention,
                residual=residual,
                negative_slope=negative_slope,
            )
            for n in num_blocks
        )
        self.sams = nn.ModuleList(SupervisedAttention(width) for _ in num_blocks[:-1])
        self.merges = nn.ModuleList(nn.Conv2d(2 * width, width, 1) for _ in num_blocks[1:])
        self.csffs = nn.ModuleList(CrossStageFusion(2 * width) for _ in num_blocks[1:])
        self.tail = nn.Conv2d(width, 3, 7, padding=3, bias=False)

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def forward_signed(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs: list[torch.Tensor] = []
        feats = img
        prev: tuple[torch.Tensor, torch.Tensor] | None = None
        last = len(self.stages) - 1
        for k, stage in enumerate(self.stages):
            e = cast(EncoderDecoder, stage).embed(img)
            if k > 0:
                e = self.merges[k - 1](torch.cat([e, feats], dim=1))
            d, enc, dec = stage(e, csff=self.csffs[k - 1] if k > 0 else None, prev=prev)
            prev = (enc, dec)
            if k < last:
                feats, out = self.sams[k](d, img)
            else:
                out = self.tail(d) + img
            outs.append(torch.clamp(out, -1, 1))
        return tuple(outs)


def verify_cached_blob(path: Path) -> None:
    """Files in a Hugging Face cache are stored under their sha256: check the content still matches."""
    import re

    blob = Path(os.path.realpath(path)).name
    if re.fullmatch(r"[0-9a-f]{64}", blob):
        verify_sha256(path, blob)


ARCHITECTURES: dict[str, type[RDAFNetBase]] = {c.__name__: c for c in (RDAFNet, RDAFNetMultiStage)}
# config.json keys that describe the network or its file but are not constructor arguments
_DESCRIPTIVE_KEYS = {"architecture", "input_range", "size_multiple", "rdafnet_version", "weights_sha256", "pretrained"}
# (type check, what it must be) for every hyperparameter: checked before anything is allocated
_SCHEMA: dict[str, tuple[Any, str]] = {
    "width": (lambda v: _is_int(v) and 1 <= v <= 1024, "an integer from 1 to 1024"),
    "num_blocks": (
        lambda v: (
            (_is_int(v) and 1 <= v <= 256)
            or (isinstance(v, (list, tuple)) and 2 <= len(v) <= 8 and all(_is_int(n) and 1 <= n <= 256 for n in v))
        ),
        "an integer from 1 to 256 (a list of 2 to 8 such for RDAFNetMultiStage)",
    ),
    "num_convs": (lambda v: _is_int(v) and 1 <= v <= 16, "an integer from 1 to 16"),
    "attention": (lambda v: v in ATTENTION_MODES, f"one of {list(ATTENTION_MODES)}"),
    "residual": (lambda v: isinstance(v, bool), "true or false"),
    "negative_slope": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
        "a number in [0, 1)",
    ),
    "variant": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "weights_sha256": (lambda v: isinstance(v, str) and len(v) == 64, "a 64-digit hex sha256"),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def invalid_hyperparameters(cls: type[RDAFNetBase], values: dict[str, Any]) -> list[str]:
    """What in ``values`` (hyperparameters of ``cls``) breaks :data:`_SCHEMA`, one phrase each."""
    wrong = [
        f"{k}={values[k]!r} (must be {what})" for k, (ok, what) in _SCHEMA.items() if k in values and not ok(values[k])
    ]
    if cls is RDAFNet and isinstance(values.get("num_blocks"), (list, tuple)):
        wrong.append(f"num_blocks={values['num_blocks']!r} (must be an integer for RDAFNet)")
    if cls is RDAFNetMultiStage and _is_int(values.get("num_blocks")):
        wrong.append(f"num_blocks={values['num_blocks']!r} (must be a list of 2 to 8 integers for RDAFNetMultiStage)")
    return wrong


#: The most parameters a config file may ask for before its weights are checked (3.5x the multi-stage
#: network): a few bytes of JSON must not make the loader allocate tens of GB. Registered weights, whose
#: sha256 is known, are not bounded.
MAX_CONFIG_PARAMS = 100_000_000


def from_config(config: dict[str, Any], *, max_params: int | None = MAX_CONFIG_PARAMS) -> RDAFNetBase:
    """The (randomly initialised) network a ``config.json`` describes; unknown keys are an error, and so
    is a network of more than ``max_params`` parameters (counted before anything is allocated)."""
    arch = config.get("architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"config names architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    cls = ARCHITECTURES[arch]
    params = set(inspect.signature(cls).parameters)
    unknown = sorted(set(config) - params - _DESCRIPTIVE_KEYS)
    if unknown:
        raise ValueError(
            f"config has unknown key(s) {unknown} for {arch}; allowed: {sorted(params | _DESCRIPTIVE_KEYS)}"
        )
    wrong = invalid_hyperparameters(cls, config)
    if wrong:
        raise ValueError(f"config for {arch} has invalid values: {'; '.join(wrong)}")
    kwargs = {k: v for k, v in config.items() if k in params}
    if max_params is not None:
        with torch.device("meta"):
            count = sum(p.numel() for p in cls(**kwargs).parameters())
        if count > max_params:
            raise ValueError(
                f"the config describes a {arch} of {count / 1e6:,.0f} M parameters, over the "
                f"{max_params / 1e6:,.0f} M a model file may ask for; if you trust the file, build the network "
                "with rdafnet.build(...) and load its weights yourself"
            )
    return cls(**kwargs)
