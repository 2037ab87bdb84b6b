"""ONNX export of an RDAFNet network, with dynamic batch, height and width."""

from __future__ import annotations

import copy
import logging
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rdafnet.layers import FusedRDAFB, NormWindow
from rdafnet.models.networks import RDAFNetBase
from rdafnet.utils.atomic import atomic_write
from rdafnet.utils.checkpoint import state_digest

#: Names of the graph's dynamic axes (positions in ``blurry`` and ``sharp``).
AXES = {0: "batch", 2: "height", 3: "width"}


class _OnnxGraph(nn.Module):
    """The network's forward in traceable form: pad to its size multiple, run, crop back.

    Matches ``model(x)`` for inputs of at least ``model.min_size`` pixels a side: padding there is
    always the reflect padding of ``pad_to_multiple``, written with symbolic sizes so that one graph
    takes any height and width.
    """

    def __init__(self, model: RDAFNetBase) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.model.size_multiple
        xp = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="reflect")
        return (self.model.forward_signed(xp * 2 - 1)[-1][..., :h, :w] + 1) / 2


#: The oldest opset torch's ONNX exporter writes (it silently writes this one for older requests).
MIN_OPSET = 18


def export_onnx(model: nn.Module, path: str | os.PathLike, *, opset: int = 18, overwrite: bool = False) -> Path:
    """Write ``model`` (an RDAFNet network) as an ONNX file; returns its path.

    The graph takes ``blurry`` (B, 3, H, W) float32 in [0, 1], any B and any H, W >= ``model.min_size``,
    and returns ``sharp`` of the same shape, equal to ``model(x)`` to float32 rounding. Export the
    model as loaded (``from_pretrained`` or ``build``), not its ``rdafnet.optimize`` copy. Needs
    ``pip install "rdafnet[onnx]"`` (torch's ONNX exporter uses onnxscript).
    """
    if not isinstance(model, RDAFNetBase):
        raise TypeError(
            f"export_onnx takes an RDAFNet network (rdafnet.build / from_pretrained), got {type(model).__name__}"
        )
    if any(isinstance(mod, FusedRDAFB) for mod in model.modules()):
        raise ValueError(
            "this model comes from rdafnet.optimize(), whose in-place kernels do not export; "
            "export the model as loaded (rdafnet.from_pretrained / build) instead"
        )
    if any(isinstance(mod, NormWindow) and mod.norm_window for mod in model.modules()):
        raise ValueError(
            "windowed instance norm (set_norm_window) does not export; call "
            "rdafnet.set_norm_window(model, None) first, or tile outside the graph"
        )
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as e:
        raise ImportError('ONNX export needs onnxscript: pip install "rdafnet[onnx]"') from e
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset must be an integer from {MIN_OPSET} (the oldest torch's ONNX exporter writes) to "
            f"{newest} (the newest this onnx knows), got {opset!r}"
        )
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    graph = _OnnxGraph(copy.deepcopy(model)).to(device="cpu", dtype=torch.float32).eval()
    size = 4 * max(model.min_size, model.size_multiple)
    example = torch.rand(1, 3, size, size + model.size_multiple, generator=torch.Generator().manual_seed(0))
    dim = torch.export.Dim.AUTO

    props = metadata(model)

    def write(tmp: str) -> None:
        with _quiet_exporter():
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=["blurry"],
                output_names=["sharp"],
                dynamic_shapes={"x": {0: dim, 2: dim, 3: dim}},
                verbose=False,
            )
        if program is None:  # (only the legacy exporter returns nothing)
            raise RuntimeError("torch.onnx.export returned no program")
        program.save(tmp, external_data=False)  # one self-contained file
        proto = onnx.load(tmp, load_external_data=False)
        _name_axes(proto, props)
        onnx.save(proto, tmp)
        written = {o.domain: o.version for o in proto.opset_import}.get("")
        if written != opset:
            raise ValueError(f"the exporter wrote opset {written}, not the {opset} asked for; pick another --opset")

    return atomic_write(path, write, overwrite=overwrite)


@contextmanager
def _quiet_exporter():
    """Silence what the exporter says about packages the graph does not use (torchvision's operators)."""
    log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def metadata(model: RDAFNetBase) -> dict[str, str]:
    """The ``metadata_props`` an exported file carries: what the model is and what it takes."""
    from rdafnet._version import __version__

    cfg = model.config
    return {
        "rdafnet.model_name": str((model.pretrained or {}).get("name") or cfg.get("variant") or cfg["architecture"]),
        "rdafnet.architecture": cfg["architecture"],
        "rdafnet.state_sha256": state_digest(model),
        "rdafnet.version": __version__,
        "rdafnet.input": "blurry: float32 RGB, layout (batch, 3, height, width), range [0, 1]",
        "rdafnet.output": "sharp: float32 RGB, layout (batch, 3, height, width), range [0, 1]",
    }


def _name_axes(proto, props: dict[str, str]) -> None:
    """Give the dynamic axes their names (the exporter writes symbols such as ``s77``) everywhere they occur,
    and add ``props`` to the model's ``metadata_props``."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    names = {dims[i].dim_param: name for i, name in AXES.items() if dims[i].dim_param}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for d in value.type.tensor_type.shape.dim:
            if pattern and d.dim_param:
                d.dim_param = pattern.sub(lambda m: names[m.group(1)], d.dim_param)
    del proto.metadata_props[:]
    for k, v in props.items():
        proto.metadata_props.add(key=k, value=v)
