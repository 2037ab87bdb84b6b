"""Generated tables of accuracy and memory: bf16, int8, tiling."""

from __future__ import annotations

from _tables_data import (
    INT8_LAYERS,
    INT8_PRECISION,
    MEMORY,
    PRECISION,
    TILING,
    _facts,
    result,
    row,
)


def _bf16() -> tuple[float, float, int]:
    """Mean and worst PSNR of bf16 against fp32 over the frames of the precision run, and its largest
    difference in 8-bit levels."""
    rows = result(PRECISION)["rows"]
    db = [r["bf16_vs_fp32_db"] for r in rows]
    return sum(db) / len(db), min(db), max(r["max_abs_diff_levels"] for r in rows)


def bf16_accuracy() -> str:
    """docs/performance.md: bf16 against fp32 with the bundled weights, frame by frame."""
    r = result(PRECISION)
    mean, worst, levels = _bf16()
    lines = [
        f"CPU: {r['cpu']}; torch {r['torch']}; {r['date']}; `{r['command']}` (8-bit outputs of `deblur`, whole "
        "frames: the GoPro dev frame and the 11 training pairs of `../shared/data`)",
        "",
        "| model | frame | blurry vs sharp | fp32 vs sharp | bf16 vs sharp | bf16 vs fp32 (dB) | largest difference "
        "(8-bit levels) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in r["rows"]:
        lines.append(
            f"| {x['model']} | {x['image']} | {x['psnr_blurry']:.2f} | {x['psnr_fp32']:.2f} | "
            f"{x['psnr_bf16']:.2f} | {x['bf16_vs_fp32_db']:.2f} | {x['max_abs_diff_levels']} |"
        )
    lines.append(f"| | **mean** | | | | **{mean:.2f}** (worst {worst:.2f}) | {levels} |")
    return "\n".join(lines) + "\n"


def bf16_summary() -> str:
    """One sentence on bf16's distance from fp32 with trained weights (README, the v4 card)."""
    mean, worst, levels = _bf16()
    return (
        f"With the bundled weights bf16 is {mean:.1f} dB from the fp32 output on average over "
        f"{len(result(PRECISION)['rows'])} real frames ({worst:.1f} dB at worst, at most {levels} grey "
        f'level{"s" if levels != 1 else ""} apart; docs/performance.md, "bf16 accuracy").\n'
    )


def int8_accuracy() -> str:
    """docs/performance.md: int8 and bf16 against fp32 with the bundled weights, frame by frame."""
    r = result(INT8_PRECISION)
    rows = r["rows"]
    lines = [
        f"CPU: {r['cpu']}; torch {r['torch']}; {r['date']}; `{r['command']}` (whole frames: the GoPro dev frame "
        "and the 11 training pairs of `../shared/data`; dB against fp32 on the 8-bit outputs of `deblur`; the "
        "correction's SNR in float)",
        "",
        "| frame | fp32 vs sharp | int8 vs sharp | int8 vs fp32 (dB) | int8 correction SNR (dB) | int8 largest "
        "difference (8-bit levels) | bf16 vs fp32 (dB) | bf16 correction SNR (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in rows:
        lines.append(
            f"| {x['image']} | {x['psnr_fp32']:.2f} | {x['psnr_int8']:.2f} | {x['int8_vs_fp32_db']:.2f} | "
            f"{x['int8_correction_snr_db']:.2f} | {x['int8_max_abs_diff_levels']} | {x['bf16_vs_fp32_db']:.2f} | "
            f"{x['bf16_correction_snr_db']:.2f} |"
        )

    def mean(key: str) -> str:
        v = [x[key] for x in rows]
        return f"**{sum(v) / len(v):.2f}** (worst {min(v):.2f})"

    sharp = sum(x["psnr_int8"] - x["psnr_fp32"] for x in rows) / len(rows)
    lines.append(
        f"| **mean** | | {sharp:+.3f} dB vs fp32 | {mean('int8_vs_fp32_db')} | {mean('int8_correction_snr_db')} | "
        f"{max(x['int8_max_abs_diff_levels'] for x in rows)} | {mean('bf16_vs_fp32_db')} | "
        f"{mean('bf16_correction_snr_db')} |"
    )
    return "\n".join(lines) + "\n"


def int8_layers() -> str:
    """docs/performance.md: each convolution role, float against int8, from ``bench.py int8-layers``."""
    r = result(INT8_LAYERS)
    lines = [
        f"{_facts(r)}; float = {r['float_dtype'].replace('torch.', '')}",
        "",
        "| layer | in | out | kernel/stride | input | layers | float s | int8 s, quantizing included | int8 "
        'convolution alone s | x (float / int8) | int8 in `precision="int8"` |',
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    import rdafnet
    from rdafnet.ops.int8 import int8_layers as chosen

    picked = {n.rsplit(".", 1)[-1] if ".convs." not in n else "block 3x3" for n in chosen(rdafnet.build(r["variant"]))}
    for c in r["rows"]:
        dw = " depthwise" if c["groups"] != 1 else ""
        i8 = c["int8_s"]
        cells = f"{i8:.4f} | {c['int8_conv_s']:.4f} | {c['float_s'] / i8:.2f}" if i8 else "- | - | -"
        lines.append(
            f"| {c['layer']} | {c['in']} | {c['out']} | {c['kernel']}x{c['kernel']}/{c['stride']}{dw} | {c['input']} "
            f"| {c['layers']} | {c['float_s']:.4f} | {cells} | {'yes' if c['layer'] in picked else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def random_weights_note() -> str:
    """docs/performance.md: why the multi-stage rows of the speed run sit far from the authors' output."""
    ms = {p: row("multi-stage", p) for p in ("optimized-keep", "optimized-winograd-keep", "optimized-bf16-keep")}
    return (
        f"(Random weights. With them the multi-stage network is badly conditioned: even its exact fp32 path is "
        f"{ms['optimized-keep']['max_abs_diff']:.2f} ({ms['optimized-keep']['psnr_vs_reference']:.1f} dB) from the "
        f"authors' fp32 output, Winograd {ms['optimized-winograd-keep']['psnr_vs_reference']:.1f} dB and bf16 "
        f"{ms['optimized-bf16-keep']['psnr_vs_reference']:.1f} dB, because float32 rounding is amplified through 32 "
        "instance-normed blocks and three stages; in float64 every path agrees to 1e-9 (`tests/test_ops.py`). Only "
        f"trained weights say how close bf16 is: with the bundled model it is {_bf16()[0]:.1f} dB. Until the "
        'authors\' multi-stage weights are measured, use `precision="fp32"` where exact output matters. GFLOP/s '
        "counts the direct convolution's multiply-adds, so the Winograd rows' GFLOP/s is the rate they appear to "
        "run at, near or above a lone direct 3x3 convolution's peak here.)\n"
    )


def tiling_quality() -> str:
    """docs/tiling.md: tiled and whole-frame output of the bundled default against the sharp frames."""
    r = result(TILING)
    t, w = r["tile"], r["window"]
    lines = [
        _facts(r),
        "",
        f"| frame | blurry | full | tiled {t} | full + local {w} | tiled {t} + local {w} | "
        "tiled vs full | tiled+local vs full+local |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = ("blurry", "full", "tiled", "full_local", "tiled_local", "tiled_vs_full", "tiled_local_vs_full_local")
    for x in r["rows"]:
        lines.append(f"| {x['image']} | " + " | ".join(f"{x[k]:.2f}" for k in keys) + " |")
    lines.append(
        f"| **mean of {len(r['rows'])} frames** | "
        + " | ".join(f"**{sum(x[k] for x in r['rows']) / len(r['rows']):.2f}**" for k in keys)
        + " |"
    )
    return "\n".join(lines) + "\n"


def tiling_notes() -> str:
    """docs/tiling.md: what the tiling table says, from the same run."""
    rows = result(TILING)["rows"]

    def mean(k: str) -> float:
        return sum(x[k] for x in rows) / len(rows)

    moved = max(abs(x["tiled"] - x["full"]) for x in rows)
    hurt = min(x["full_local"] - x["full"] for x in rows)
    return (
        f"For this small model the tiling differences are small: tiled output is {mean('tiled_vs_full'):.1f} dB "
        f"away from whole-frame output ({mean('tiled_local_vs_full_local'):.1f} dB with local statistics), and "
        f"quality against the sharp frames moves by {moved:.2f} dB at most. Local statistics bring tiles "
        f"{mean('tiled_local_vs_full_local') - mean('tiled_vs_full'):.1f} dB closer to the whole-frame result"
        + (" and never cost quality here" if hurt >= -0.005 else f" and cost at most {-hurt:.2f} dB of quality")
        + ". The paper-sized networks have 16-32 blocks of instance norm and are more sensitive. With random "
        "weights (`benchmarks/bench.py speed`), tiles differ from the whole frame much more, so use "
        "`set_norm_window` with large tiles for them.\n"
    )


def tiling_memory() -> str:
    """docs/tiling.md: seconds and peak memory of the bundled default by frame size, whole and tiled."""
    r = result(MEMORY)
    lines = [
        _facts(r) + f"; {r['ram_gib']:.1f} GiB available",
        "",
        "| size | how | median s | peak RSS MB |",
        "| --- | --- | --- | --- |",
    ]
    for x in r["rows"]:
        if "median_s" in x:
            lines.append(f"| {x['size']} | {x['label']} | {x['median_s']:.2f} | {x['peak_rss_mb']:.0f} |")
        else:
            lines.append(f"| {x['size']} | {x['label']} | not run: needs about {x['skipped_gib']:.0f} GiB | |")
    return "\n".join(lines) + "\n"


def tiling_memory_notes() -> str:
    """docs/tiling.md: what the memory table says, from the same run."""
    rows = [x for x in result(MEMORY)["rows"] if "median_s" in x]
    by = {(x["size"], x["path"]): x for x in rows}
    sizes = list(dict.fromkeys(x["size"] for x in rows))
    tiled_rss = [by[z, "optimized-tiled"]["peak_rss_mb"] / 1024 for z in sizes if (z, "optimized-tiled") in by]
    whole = [z for z in sizes if (z, "optimized") in by]
    biggest = max(whole, key=lambda z: by[z, "optimized"]["peak_rss_mb"])
    # the guard tiled where its peak memory stayed well under the whole frame's (or the whole frame was not run)
    guarded = [
        z
        for z in sizes
        if (z, "optimized-auto") in by
        and (
            (z, "optimized") not in by
            or by[z, "optimized-auto"]["peak_rss_mb"] < 0.75 * by[z, "optimized"]["peak_rss_mb"]
        )
    ]
    faster = [
        z
        for z in whole
        if (z, "optimized-tiled") in by and by[z, "optimized-tiled"]["median_s"] < by[z, "optimized"]["median_s"]
    ]
    text = (
        f"With tiling, peak memory stays at {min(tiled_rss):.1f}-{max(tiled_rss):.1f} GB at every size; what it "
        "still grows by is the image and the host-side output. Whole-frame memory grows with the pixel count "
        f"({by[biggest, 'optimized']['peak_rss_mb'] / 1024:.1f} GB at {biggest} for this 16-channel model; the "
        "128-channel paper networks need about 8x more). The memory guard ran "
        + (f"whole frames except at {', '.join(guarded)}, which it tiled" if guarded else "whole frames at every size")
        + " here. Tiles recompute their "
        "overlaps, so they cost time at small sizes; "
        + (
            f"at {', '.join(faster)} they were faster than the whole frame (this run, like a plain `deblur` call, "
            "does without `keep_freed_memory`, so a whole frame's large maps fault in fresh pages)."
            if faster
            else "they were slower than the whole frame at every size measured."
        )
    )
    return text + "\n"
