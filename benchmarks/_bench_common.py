"""Helpers of the benchmark scripts: the CPU's facts and peaks, models, timing, result files."""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matmul_peak_gflops(n: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    """The rate of the fastest of 8 n x n matrix products (after a warm-up): a peak, so the best call counts."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / _best(lambda: a @ b, 8) / 1e9


def _conv_peak_gflops(dtype: torch.dtype = torch.float32, c: int = 128, h: int = 180, w: int = 320) -> float:
    """The rate of the fastest of 12 channels-last 3x3 convolutions with the networks' feature width (128
    channels), after a warm-up."""
    x = torch.randn(1, c, h, w).to(memory_format=torch.channels_last, dtype=dtype)
    wt = torch.randn(c, c, 3, 3).to(memory_format=torch.channels_last, dtype=dtype)
    with torch.no_grad():
        return 2 * c * c * 9 * h * w / _best(lambda: torch.nn.functional.conv2d(x, wt, padding=1), 12) / 1e9


def cpu_summary() -> str:
    """The CPU model and the instruction sets that decide which precision is fast."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    have = [
        name
        for flag, name in (
            ("amx_bf16", "AMX-BF16"),
            ("amx_fp16", "AMX-FP16"),
            ("avx512_bf16", "AVX512-BF16"),
            ("avx512f", "AVX-512"),
            ("avx2", "AVX2"),
        )
        if flag in flags
    ]
    return f"{model}; {', '.join(have) or 'no AVX2'}; {os.cpu_count()} cores"


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The script every measurement runs in (a fresh process each)
BENCH = Path(__file__).with_name("bench.py")


ISA_HELP = "avx2: as an AVX2-only CPU runs it (no AVX-512, bf16 or VNNI)"
_AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def as_isa(isa: str) -> None:
    """``--isa avx2``: run this benchmark as an AVX2-only CPU would (no AVX-512, no bf16, no VNNI). The
    kernels are limited by ``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2``, which must be set
    before torch starts, so the process starts itself again with them (its subprocesses inherit them); bf16
    and int8 are then reported as not native, as such a CPU reports them. ``native``: nothing changes."""
    if isa != "avx2":
        return
    if os.environ.get("ONEDNN_MAX_CPU_ISA") != "AVX2":
        cmd = [sys.executable, *sys.argv]
        raise SystemExit(subprocess.run(cmd, env={**os.environ, **_AVX2_ENV}).returncode)
    import importlib

    quant = importlib.import_module("rdafnet.layers.quant")
    optimize_module = importlib.import_module("rdafnet.ops.optimize")  # (rdafnet.ops.optimize is the function)
    device = importlib.import_module("rdafnet.utils.device")
    device._cpu_native = lambda dtype: False
    quant.int8_supported = lambda: False
    optimize_module.int8_supported = lambda: False


def _real_pairs(data: Path) -> list:
    """The GoPro test frame and the 11 GoPro training pairs of ``../shared/data``."""
    from rdafnet.data import find_pairs

    return find_pairs(data / "gopro_dev") + find_pairs(data / "gopro_train_pairs")


#: The variant name the speed run gives the bundled default model (its trained weights, which int8 needs).
BUNDLED = "bundled"


def _model(variant: str, pretrained: bool):
    """The model a benchmark times: the bundled default where ``pretrained``, else ``variant`` with
    random weights (seed 0)."""
    import rdafnet

    if pretrained:
        return rdafnet.from_pretrained()
    torch.manual_seed(0)
    return rdafnet.build(variant).eval()


def _run_case(extra: list[str]) -> dict:
    cmd = [sys.executable, str(BENCH), "_case", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
    return json.loads(res.stdout.strip().splitlines()[-1])


JSON_HELP = "also write the rows as JSON (benchmarks/results/, read by tables.py)"


def _write_result(path: str, kind: str, rows: list[dict], **facts) -> None:
    """A benchmark result for ``benchmarks/tables.py``: the machine, the command and the rows, as JSON."""
    import datetime

    record = {
        "kind": kind,
        "cpu": cpu_summary(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/bench.py " + " ".join(sys.argv[1:]),
        **facts,
        "rows": rows,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def _best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _optimized(model: torch.nn.Module, flags: list[str]) -> torch.nn.Module:
    """The optimized path that a path name's flags describe."""
    import rdafnet

    if "fastest" in flags:
        return rdafnet.optimize(model, precision="auto")
    if "int8" in flags:
        return rdafnet.optimize(model, precision="int8")
    return rdafnet.optimize(
        model, precision="bf16" if "bf16" in flags else "fp32", conv="winograd" if "winograd" in flags else "direct"
    )


def timed(fn, x, repeats: int, device) -> tuple[float, object]:
    import torch

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times, y = [], None
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        y = fn(x)
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times), y


class Tee(io.TextIOBase):
    def __init__(self, path: Path) -> None:
        self.file, self.stdout = open(path, "a", buffering=1), sys.stdout

    def write(self, s: str) -> int:
        self.stdout.write(s)
        self.file.write(s)
        return len(s)

    def flush(self) -> None:
        self.stdout.flush()
        self.file.flush()
