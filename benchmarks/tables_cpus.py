"""Generated tables per CPU kind: every speed run's rows side by side, each run's ceiling, the command
line's default path (``bench.py auto``) and Winograd in PyTorch ops against NNPACK (``bench.py winograd-own``)."""

from __future__ import annotations

import json

from _tables_data import RESULTS, result, row
from tables_speed import _cpu, _picked, _small


def _cell(variant: str, path: str, name: str, digits: int, ratio: bool = True) -> str:
    """A path's seconds in a result, with its ratio to the run's baseline (the authors' code, same setting)."""
    try:
        r = row(variant, path, name)
    except KeyError:
        return "not measured"
    return f"{r['median_s']:.{digits}f} s" + (f" ({r['speedup']:.2f}x)" if ratio and not r["baseline"] else "")


def _per_cpu(variants: tuple[str, ...], digits: int) -> list[str]:
    """One row per speed result and network measured at 720p: the authors' code (same allocator setting /
    as released), each path with its ratio to the first, and what ``precision="auto"`` took."""
    lines = []
    for path in sorted(RESULTS.glob("*-speed.json")):
        name, r = path.name, result(path.name)
        for variant in variants:
            variant = _small(name) if variant == "bundled" else variant
            try:
                row(variant, "optimized-fastest-keep", name)
            except KeyError:
                continue
            released = _cell(variant, "reference", name, digits, ratio=False)
            cells = [_cell(variant, p, name, digits) for p in ("reference-keep", *PATHS)]
            net = "" if len(variants) == 1 else f" | {NETWORKS[variant]}"
            lines.append(
                f"| {_cpu(r)} ({r['date']}){net} | {cells[0]} / {released} | {' | '.join(cells[1:])} | "
                f"{_picked(variant, name)} |"
            )
    return lines


#: The paths of the per-CPU tables, in their columns' order (the last one is the command line's default).
PATHS = (
    "optimized-keep",
    "optimized-winograd-keep",
    "optimized-bf16-keep",
    "optimized-int8-keep",
    "optimized-fastest-keep",
)
NETWORKS = {
    "single-stage": "single-stage",
    "multi-stage": "multi-stage",
    "bundled": "bundled default (trained)",
    "tiny": "tiny (random weights)",
}
_HEAD = (
    "authors' code: same allocator setting / as released | exact, direct | exact, Winograd | bf16 | int8 | "
    "`rdafnet deblur` default (`auto`) | `auto` took |"
)


def card_speed() -> str:
    """The bundled default's model card: its seconds per 720p frame on each CPU kind measured (its rows, or
    its architecture's with random weights, in every speed result)."""
    lines = [f"| CPU | {_HEAD}", "| --- " * 8 + "|", *_per_cpu(("bundled",), 2)]
    return "\n".join(lines) + "\n"


def which_path() -> str:
    """docs/performance.md: each network at 720p on each CPU kind measured (every speed result)."""
    lines = [f"| CPU (run) | network | {_HEAD}", "| --- " * 9 + "|"]
    lines += _per_cpu(("single-stage", "multi-stage", "bundled"), 1)
    return "\n".join(lines) + "\n"


def ceiling() -> str:
    """docs/performance.md: per speed result, the fastest any path of a kind could run the single-stage
    network at the 3x3 convolution peak measured in that run, against what was measured."""
    lines = [
        "| CPU (run) | 3x3 conv peak fp32 / bf16 (GFLOP/s) | fp32 floor at that peak | authors' code | most a "
        "direct fp32 path can give | exact, direct | exact, Winograd | bf16: floor, most it can give, measured |",
        "| --- " * 8 + "|",
    ]
    for path in sorted(RESULTS.glob("*-speed.json")):
        name, r = path.name, result(path.name)
        try:
            ref, direct = row("single-stage", "reference-keep", name), row("single-stage", "optimized-keep", name)
        except KeyError:
            continue
        peak = r["conv_peak_gflops"]
        flop = direct["gflops"] * direct["median_s"]  # G floating-point operations of one frame
        floor = flop / peak["fp32"]
        bf16 = "emulated: none"
        if peak.get("bf16"):
            b_floor = flop / peak["bf16"]
            bf16 = (
                f"{b_floor:.1f} s, {ref['median_s'] / b_floor:.2f}x, "
                f"{_cell('single-stage', 'optimized-bf16-keep', name, 1)}"
            )
        cells = [_cell("single-stage", p, name, 1) for p in ("optimized-keep", "optimized-winograd-keep")]
        peaks = f"{peak['fp32']:.0f} / " + (f"{peak['bf16']:.0f}" if peak.get("bf16") else "-")
        lines.append(
            f"| {_cpu(r)} ({r['date']}) | {peaks} | {floor:.1f} s | {ref['median_s']:.1f} s | "
            f"{ref['median_s'] / floor:.2f}x | {cells[0]} | {cells[1]} | {bf16} |"
        )
    return "\n".join(lines) + "\n"


def cli_default() -> str:
    """docs/performance.md: the command line's default path (``precision="auto"``) against the authors' code
    and each exact path, single-stage at 720p, one row per ``bench.py auto`` run (each in one process)."""
    lines = [
        "| CPU (run) | authors' code | exact, direct | exact, Winograd | `rdafnet deblur`, default options "
        "| `auto` took | vs the fastest exact |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in sorted(RESULTS.glob("*-auto.json")):
        r = json.loads(path.read_text())
        ref, direct, cli = r["rows"][0], r["rows"][1], r["rows"][-1]  # bench.py auto's order
        wino = next((x for x in r["rows"] if "Winograd" in x["path"]), None)
        took = cli["path"].split("(")[1].rstrip(")")
        isa = " run as AVX2-only" if r["isa"] == "avx2" else ""
        cells = [f"{x['seconds']:.1f} s ({x['x_vs_reference']:.2f}x)" if x else "-" for x in (direct, wino, cli)]
        lines.append(
            f"| {r['cpu']}{isa} ({r['date']}) | {ref['seconds']:.1f} s | {cells[0]} | {cells[1]} | {cells[2]} | "
            f"{took} | {cli['vs_fastest_exact']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def winograd_own() -> str:
    """docs/performance.md: Winograd written with PyTorch ops against NNPACK and oneDNN, layer by layer, one
    block per ``bench.py winograd-own`` run."""
    blocks = []
    for path in sorted(RESULTS.glob("*-winograd-own.json")):
        r = json.loads(path.read_text())
        tiles = sorted({int(k[1:].split("_")[0]) for c in r["rows"] for k in c if k.startswith("f") and "gemm" in k})
        isa = " run as AVX2-only" if r["isa"] == "avx2" else ""
        lines = [
            f"{r['variant']} at {r['size']}; CPU: {r['cpu']}{isa}; torch {r['torch']}, {r['threads']} threads; "
            f"{r['date']}; `{r['command']}`",
            "",
            "| in | out | kernel | input | layers | oneDNN s | NNPACK s | "
            + "".join(f"F({m}x{m}) s / GEMM alone s | " for m in tiles)
            + "fastest own / NNPACK | rel. error NNPACK / "
            + " / ".join(f"F({m}x{m})" for m in tiles)
            + " |",
            "| --- " * (9 + len(tiles)) + "|",
        ]
        for c in r["rows"]:
            own = min(c[f"f{m}_s"] for m in tiles)
            vs = f"{own / c['nnpack_s']:.1f}x slower" if own > c["nnpack_s"] else f"{c['nnpack_s'] / own:.1f}x faster"
            errors = " / ".join(f"{c[k]:.0e}" for k in ["nnpack_rel_error", *(f"f{m}_rel_error" for m in tiles)])
            own_cells = "".join(f"{c[f'f{m}_s']:.3f} / {c[f'f{m}_gemm_s']:.3f} | " for m in tiles)
            lines.append(
                f"| {c['in']} | {c['out']} | {c['kernel']}x{c['kernel']} | {c['input']} | {c['layers']} | "
                f"{c['onednn_cl_s']:.3f} | {c['nnpack_s']:.3f} | {own_cells}{vs} | {errors} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def which_path_notes() -> str:
    """docs/performance.md: per speed run, the command line's default against the fastest exact path and the
    authors' code (single-stage), and int8 where it was measured, with random and with trained weights."""
    lines = []
    for path in sorted(RESULTS.glob("*-speed.json")):
        name, r = path.name, result(path.name)
        try:
            cli = row("single-stage", "optimized-fastest-keep", name)
        except KeyError:
            continue
        exact = []
        for p, label in (("optimized-keep", "direct"), ("optimized-winograd-keep", "Winograd")):
            try:
                exact.append((row("single-stage", p, name)["median_s"], label))
            except KeyError:
                pass
        best, label = min(exact)
        note = (
            f"- {_cpu(r)} ({r['date']}): on the single-stage network `rdafnet deblur`'s default ran "
            f"{cli['median_s']:.1f} s, {cli['speedup']:.2f}x the authors' code and {best / cli['median_s']:.2f}x the "
            f"speed of the fastest exact path (fp32, {label}, {best:.1f} s); `auto` took "
            f"{_picked('single-stage', name)}."
        )
        try:
            i8, small = row("single-stage", "optimized-int8-keep", name), _small(name)
            trained = row(small, "optimized-int8-keep", name)
            note += (
                f" int8 ran in {i8['median_s']:.1f} s ({i8['speedup']:.2f}x), {i8['psnr_vs_reference']:.1f} dB from "
                f"the fp32 output with random weights; with the {NETWORKS[small]} network "
                f"{trained['psnr_vs_reference']:.1f} dB and {trained['speedup']:.2f}x, where `auto` took "
                f"{_picked(small, name)}."
            )
        except KeyError:
            pass
        lines.append(note)
    return "\n".join(lines) + "\n"


def winograd_own_notes() -> str:
    """docs/performance.md: what the ``bench.py winograd-own`` runs say, and so whether it is shipped."""
    faster, ratios, gemm, gemm_slower, total = [], [], [], 0, 0
    for path in sorted(RESULTS.glob("*-winograd-own.json")):
        r = json.loads(path.read_text())
        tiles = sorted({int(k[1:].split("_")[0]) for c in r["rows"] for k in c if k.endswith("_gemm_s")})
        for c in r["rows"]:
            total += 1
            own = min(c[f"f{m}_s"] for m in tiles)
            ratios.append(own / c["nnpack_s"])
            gemm.append(min(c[f"f{m}_gemm_s"] for m in tiles) / c["nnpack_s"])
            gemm_slower += gemm[-1] > 1
            if own < c["nnpack_s"] and own < c["onednn_cl_s"]:
                faster.append(f"{c['in']}->{c['out']} {c['kernel']}x{c['kernel']} at {c['input']} ({_cpu(r)})")
    if not ratios:
        return "(no `bench.py winograd-own` run in benchmarks/results/)\n"
    verdict = (
        'It beat NNPACK and oneDNN on no layer shape, so the library does not ship it: `conv="winograd"` stays '
        "with NNPACK where NNPACK was timed faster than oneDNN, and oneDNN elsewhere."
        if not faster
        else "It beat both NNPACK and oneDNN on: " + "; ".join(faster) + "."
    )
    return (
        f"Over {total} layer shapes and runs, the fastest PyTorch-ops Winograd took {min(ratios):.1f}x to "
        f"{max(ratios):.1f}x NNPACK's time. On {gemm_slower} of them its batched GEMM alone, with the transforms "
        f"free, was already slower than NNPACK's whole convolution ({min(gemm):.1f}x to {max(gemm):.1f}x its "
        "time), and the tile transforms took about as long again. "
        f"{verdict}\n"
    )


_NAMES = {"fp32": "fp32", "bf16": "bf16", "fp32-winograd": "Winograd", "int8": "int8"}


def _said(pred: dict[str, float]) -> str:
    """Predicted seconds per ``auto`` candidate, in words."""
    return ", ".join(
        f"{_NAMES.get(c, c)} {t:.2f} s" if t != float("inf") else f"{_NAMES.get(c, c)} refused (error bound)"
        for c, t in pred.items()
    )


def auto_notes() -> str:
    """docs/performance.md: per ``bench.py auto`` run, what ``auto`` measured and at which size, and what it
    took."""
    lines = []
    for path in sorted(RESULTS.glob("*-auto.json")):
        r = json.loads(path.read_text())
        rec = r["auto_record"]
        took = rec["choices"][r["size"]]
        for at, times in rec["seconds"].items():
            lines.append(
                f"- {_cpu(r)} ({r['date']}): for {r['size']} `auto` measured for {r['auto_measure_s']:.0f} s, at "
                f"{at}: {_said(times)}; it took {_NAMES.get(took, took)}, "
                f"{times['fp32'] / times[took]:.2f}x faster than fp32 there."
            )
    return "\n".join(lines) + "\n"
