"""Generated tables of speed: the model zoo, Winograd, which path runs, per-CPU rows."""

from __future__ import annotations

from _tables_data import (
    CONVS,
    SPEED,
    result,
    row,
)


def _small(name: str = SPEED) -> str:
    """The bundled default's rows in a speed run: ``bundled`` (its trained weights), or ``tiny`` (the same
    architecture with random weights) in runs made before the speed run measured the bundled model."""
    return "bundled" if any(r["variant"] == "bundled" for r in result(name)["rows"]) else "tiny"


def _cpu(r: dict) -> str:
    """A result's CPU, and how it was run (``--isa avx2``: as an AVX2-only CPU)."""
    return r["cpu"] + (" run as AVX2-only" if r.get("isa") == "avx2" else "")


def _cost(model) -> tuple[str, str]:
    import rdafnet

    prof = rdafnet.profile(model, (720, 1280))
    return f"{prof.params / 1e6:.2f} M", f"{prof.macs / 1e9:,.0f} G"


def _seconds(variant: str) -> str:
    exact, bf16 = row(variant, "optimized-keep")["median_s"], row(variant, "optimized-bf16-keep")["median_s"]
    return f"{exact:.1f} (exact), {bf16:.1f} (bf16)" if exact >= 10 else f"{exact:.2f} (exact), {bf16:.2f} (bf16)"


def zoo() -> str:
    """README's model zoo: the registry's models, their cost, PSNR on the GoPro dev frame (bundled) or the
    paper's (the authors'), and CPU seconds per 720p frame from the speed run."""
    import rdafnet
    from rdafnet.weights import registry

    frame = "GOPR0396_11_00-000001.png"
    lines = [
        "| name | params | multiply-adds (720x1280) | GoPro dev frame PSNR (blurry 25.11) | CPU s / 720p frame |",
        "| --- | --- | --- | --- | --- |",
    ]
    default = registry.default_name()
    for name, entry in registry.models().items():
        if entry["source"] == "bundled":
            params, macs = _cost(rdafnet.from_pretrained(name))
            label = f"`{name}` (bundled{', default' if name == default else ''})"
            lines.append(
                f"| {label} | {params} | {macs} | {entry['metrics'][frame]['psnr']:.2f} | {_seconds(_small())} |"
            )
        elif entry["source"] == "authors":
            params, macs = _cost(rdafnet.build(entry["variant"]))
            lines.append(
                f"| `{name}` (the authors' weights, downloaded on first use) | {params} | {macs} | "
                f"paper: {entry['paper']['GoPro']['psnr']:.2f} on GoPro test | {_seconds(entry['variant'])} |"
            )
    return "\n".join(lines) + "\n"


def authors_zoo() -> str:
    """docs/pretrained.md: the authors' releases, the paper's numbers and CPU seconds from the speed run."""
    import rdafnet
    from rdafnet.weights import registry

    lines = [
        "| name | network | params | multiply-adds (720x1280) | paper GoPro PSNR / SSIM | paper HIDE PSNR / SSIM | "
        "CPU s / 720p frame | source | licence |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in registry.models().items():
        if e["source"] != "authors":
            continue
        params, macs = _cost(rdafnet.build(e["variant"]))
        blocks = rdafnet.build(e["variant"]).config["num_blocks"]
        blocks = "+".join(map(str, blocks)) if isinstance(blocks, list) else blocks
        go, hide = e["paper"]["GoPro"], e["paper"]["HIDE"]
        lines.append(
            f"| `{name}` | {e['variant']}, {blocks} RDAFBs | {params} | {macs} | {go['psnr']:.2f} / "
            f"{go['ssim']:.3f} | {hide['psnr']:.2f} / {hide['ssim']:.3f} | {_seconds(e['variant'])} | "
            f"Drive folder `{e['drive_folder']}`, `{e['file']}` | {e['license']} |"
        )
    return "\n".join(lines) + "\n"


def _as_released(variant: str, seconds: float) -> str:
    """``seconds`` as a ratio against the authors' code as released (no allocator setting), where the run has it."""
    try:
        return f"{row(variant, 'reference')['median_s'] / seconds:.2f}"
    except KeyError:
        return "-"


def winograd() -> str:
    """docs/performance.md: the paths of one run against the authors' code with the same allocator setting
    (the fair comparison) and, second, as released (what a user runs by default)."""
    labels = {
        "reference-keep": "authors' code (reference-keep)",
        "reference": "authors' code as released (reference)",
        "optimized-keep": "exact, direct (optimized-keep)",
        "optimized-winograd-keep": "exact, Winograd (optimized-winograd-keep)",
        "optimized-bf16-keep": "bf16 (optimized-bf16-keep)",
        "optimized-int8-keep": "int8 (optimized-int8-keep)",
        "optimized-fastest-keep": 'fastest here (`precision="auto"`)',
    }
    lines = [
        "| variant | path | s | x vs authors' (same setting) | x vs authors' as released | peak RSS MB | GFLOP/s | "
        "max abs diff vs authors' | PSNR vs authors' (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant in ("single-stage", "multi-stage", _small()):
        for path, label in labels.items():
            try:
                r = row(variant, path)
            except KeyError:
                continue
            diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r and path != "reference" else "-"
            db = f"{r['psnr_vs_reference']:.1f}" if "psnr_vs_reference" in r and path != "reference" else "-"
            lines.append(
                f"| {variant} | {label} | {r['median_s']:.2f} | {r['speedup']:.2f} | "
                f"{_as_released(variant, r['median_s'])} | {r['peak_rss_mb']:.0f} | {r['gflops']:.0f} | "
                f"{diff} | {db} |"
            )
    return "\n".join(lines) + "\n"


def winograd_notes() -> str:
    """The figures under docs/performance.md's Winograd table, from the same run."""
    t = {
        (v, p): row(v, p)
        for v in ("single-stage", _small())
        for p in ("reference-keep", "reference", "optimized-keep", "optimized-winograd-keep", "optimized-fastest-keep")
    }
    ss, tn = "single-stage", _small()
    gain = t[ss, "optimized-keep"]["median_s"] / t[ss, "optimized-winograd-keep"]["median_s"]
    w, d, f = t[ss, "optimized-winograd-keep"], t[ss, "optimized-keep"], t[ss, "optimized-fastest-keep"]
    tw, td = t[tn, "optimized-winograd-keep"]["median_s"], t[tn, "optimized-keep"]["median_s"]
    peak = result()["conv_peak_gflops"]
    flop = d["gflops"] * d["median_s"]  # G floating-point operations of one frame
    floor = flop / peak["fp32"]  # ... at the fp32 peak of a 3x3 convolution
    return (
        f"- On this CPU, Winograd makes the exact single-stage path {gain:.2f}x faster than direct convolutions, "
        f"but bf16 is faster still, so `auto` picks bf16. At the bundled model's width (16, so 32 channels in "
        f"the blocks) Winograd is {'slower than' if tw > td else 'as fast as or faster than'} oneDNN "
        f"({tw:.2f} s against {td:.2f} s).\n"
        f"- Its error: {w['max_abs_diff']:.1e} at most on a whole frame from the authors' float32 output with "
        f"random weights, {w['psnr_vs_reference']:.1f} dB (the direct path: {d['max_abs_diff']:.1e}, "
        f"{d['psnr_vs_reference']:.1f} dB); `tests/test_fastconv.py` bounds one convolution at 1e-5 relative to "
        "float64 and whole networks at 1e-4 from the direct path. The float64 parity tests run the reference "
        "path, unchanged.\n"
        f"- Against the authors' code with the same allocator setting, the exact path is {w['speedup']:.2f}x "
        f"(with Winograd) and the fastest {f['speedup']:.2f}x here, short of the 2x and 3x aimed for, and the "
        f"reason is the hardware: a 3x3 convolution peaks at {peak['fp32']:.0f} GFLOP/s in fp32 and "
        f"{peak['bf16']:.0f} in bf16 here (measured in the same run), so the single-stage network's "
        f"{flop / 2:,.0f} G multiply-adds need {floor:.1f} s in fp32 even at that peak, "
        f"against {t[ss, 'reference-keep']['median_s']:.1f} s for the authors' code "
        f"({t[ss, 'reference-keep']['median_s'] / floor:.2f}x at most for any direct fp32 path); bf16 runs at "
        f"{100 * f['gflops'] / peak['bf16']:.0f}% of its peak, whose floor is {flop / peak['bf16']:.1f} s "
        f"({t[ss, 'reference-keep']['median_s'] * peak['bf16'] / flop:.2f}x at most). Only fewer multiplications "
        "(Winograd) beat that, "
        f"and only for the 3x3 and larger kernels. As released (without the setting) the authors' code takes "
        f"{t[ss, 'reference']['median_s']:.1f} s, so these paths are "
        f"{t[ss, 'reference']['median_s'] / w['median_s']:.1f}x and "
        f"{t[ss, 'reference']['median_s'] / f['median_s']:.1f}x "
        "faster than what a user runs by default.\n"
    )


def speed_summary() -> str:
    """README's one-line summary of the speed run (single-stage, 720p)."""
    paths = ("optimized-keep", "optimized-winograd-keep", "optimized-fastest-keep")
    exact, wino, fast = (row("single-stage", p)["speedup"] for p in paths)
    released = row("single-stage", "reference")["median_s"]
    exact_r, wino_r, fast_r = (released / row("single-stage", p)["median_s"] for p in paths)
    return (
        f"Single-stage, 720p, {result()['cpu']}, `rdafnet.ops.keep_freed_memory()` on both sides\n"
        f"(the CLI calls it), one run: {exact:.2f}x the authors' code exact, {wino:.2f}x with Winograd, "
        f"{fast:.2f}x with\n`auto` ({_picked('single-stage', SPEED)} there). Against the authors' code as "
        f"released: {exact_r:.1f}x, {wino_r:.1f}x and {fast_r:.1f}x.\n"
    )


def _picked(variant: str, name: str) -> str:
    """The path ``precision="auto"`` ran in a result: the candidate whose output it matched exactly."""
    fast = row(variant, "optimized-fastest-keep", name)
    if "auto" in fast:  # recorded by the run (bench.py speed does since 2026-12-08)
        took = fast["auto"]
        return (
            "fp32, Winograd"
            if took["conv"] == "winograd"
            else "fp32, direct"
            if took["precision"] == "fp32"
            else took["precision"]
        )
    for path, label in (
        ("optimized-bf16-keep", "bf16"),
        ("optimized-int8-keep", "int8"),
        ("optimized-winograd-keep", "fp32, Winograd"),
        ("optimized-keep", "fp32, direct"),
    ):
        try:
            if row(variant, path, name).get("max_abs_diff") == fast.get("max_abs_diff"):
                return label
        except KeyError:
            continue
    return "-"


def faq_speed() -> str:
    """docs/faq.md's answer on CPU speed, from the speed run."""
    r = result()
    ss = {p: row("single-stage", p) for p in ("optimized-keep", "optimized-winograd-keep", "optimized-fastest-keep")}
    return (
        f'**CPU inference?** Use `rdafnet.optimize(model, precision="auto")`, the CLI\'s default: the fastest '
        f"path measured on your CPU. On a 720p frame of the single-stage network it ran "
        f"{ss['optimized-fastest-keep']['speedup']:.2f}x the authors' code ({_picked('single-stage', SPEED)}), and "
        f"`rdafnet.optimize(model)`, the same function in fp32, {ss['optimized-keep']['speedup']:.2f}x "
        f'({ss["optimized-winograd-keep"]["speedup"]:.2f}x with `conv="winograd"`), with the same allocator '
        f"setting on both sides ({r['cpu']}, {r['date']}; [performance.md](performance.md) has every CPU "
        "measured).\n"
    )


def keep_gain() -> str:
    """docs/quickstart.md: what ``keep_freed_memory`` gave the authors' single-stage code in the speed run."""
    gain = row("single-stage", "reference")["median_s"] / row("single-stage", "reference-keep")["median_s"]
    return (
        "For many 720p or larger frames in one process (a notebook, a video), two calls make the most\n"
        'of the CPU: `precision="auto"` picks the fastest path measured on it (bf16 only where it is native,\n'
        "within 1 grey level of the exact output), and `keep_freed_memory()` stops large feature maps from\n"
        f"faulting in fresh pages at every layer ({gain:.1f}x for the authors' single-stage code on a 720p frame,\n"
        f"{result()['cpu']}; the CLI does both, [performance.md](performance.md)):\n"
    )


def tiny_seconds() -> str:
    """docs/pretrained.md: the bundled default's CPU seconds per 720p frame, from the speed run."""
    r = result()
    return (
        "Its model card is in `rdafnet/weights/rdafnet-tiny-gopro-v4/README.md` and gives the split, the exact\n"
        f"command, the measured PSNR/SSIM and the CPU time ("
        f"{row(_small(), 'optimized-keep')['median_s']:.2f} s per 720x1280 frame exact, "
        f'{row(_small(), "optimized-fastest-keep")["median_s"]:.2f} s with `precision="auto"`; CPU: {r["cpu"]}).\n'
    )


def winograd_layers() -> str:
    """docs/performance.md: each convolution shape that ``conv="winograd"`` may take, timed both ways."""
    r = result(CONVS)
    lines = [
        f"{r['variant']} at {r['size']}; CPU: {r['cpu']}; torch {r['torch']}, {r['threads']} threads; {r['date']}; "
        f"`{r['command']}`",
        "",
        "| in | out | kernel | input | layers | oneDNN NCHW s | oneDNN channels-last s | NNPACK s | x vs NCHW | kept |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in r["rows"]:
        nn_s = f"{c['nnpack_s']:.3f}" if c["nnpack_s"] is not None else "-"
        ratio = f"{c['onednn_nchw_s'] / c['nnpack_s']:.2f}" if c["nnpack_s"] else "-"
        lines.append(
            f"| {c['in']} | {c['out']} | {c['kernel']}x{c['kernel']} | {c['input']} | {c['layers']} | "
            f"{c['onednn_nchw_s']:.3f} | {c['onednn_cl_s']:.3f} | {nn_s} | {ratio} | "
            f"{'NNPACK' if c['nnpack_kept'] else 'oneDNN'} |"
        )
    return "\n".join(lines) + "\n"
