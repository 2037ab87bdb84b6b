"""ONNX export of an RDAFNet network, with dynamic batch, height and width."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rdafnet.layers import FusedRDAFB, NormWindow
from rdafnet.models.networks import RDAFNetBase
from rdafnet.utils.atomic import atomic_write


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

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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
        written = {o.domain: o.version for o in onnx.load(tmp, load_external_data=False).opset_import}.get("")
        if written != opset:
            raise ValueError(f"the exporter wrote opset {written}, not the {opset} asked for; pick another --opset")

    return atomic_write(path, write, overwrite=overwrite)
