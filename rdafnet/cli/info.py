"""``rdafnet list`` and ``rdafnet info``: what is installed, and one model's config and cost."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("list", help="list pretrained models and architectures")
    s.set_defaults(run=run_list)

    s = sub.add_parser("info", help="show a model's config, size and cost")
    s.add_argument("model", nargs="?", default=None)
    s.set_defaults(run=run_info)


def run_list(a: argparse.Namespace) -> int:
    from rdafnet.models.registry import describe_model, list_models
    from rdafnet.weights.hub import list_pretrained, pretrained_info

    entries = {name: pretrained_info(name) for name in list_pretrained()}
    print("bundled models (rdafnet.from_pretrained(NAME), no network):")
    for name, e in entries.items():
        if e["source"] != "authors":
            print(f"  {name:28s} {e['description']}")
    print("the authors' releases (downloaded into the cache on first use, or `rdafnet download NAME --from FILE`):")
    for name, e in entries.items():
        if e["source"] == "authors":
            paper = ", ".join(f"{ds} {s['psnr']:.2f} dB / {s['ssim']:.3f}" for ds, s in e["paper"].items())
            state = "cached" if e["cached"] else "not cached"
            print(
                f"  {name:28s} {e['variant']}, {e['params'] / 1e6:.2f} M params, {e['task']}, {e['license']} "
                f"licence; paper: {paper}; {state}"
            )
    print("architectures (rdafnet.build(NAME), random weights):")
    for name in list_models():
        print(f"  {name:28s} {describe_model(name)}")
    return 0


def run_info(a: argparse.Namespace) -> int:
    import json

    from rdafnet.models.profile import profile
    from rdafnet.models.registry import VARIANTS, build, describe_model
    from rdafnet.weights.hub import from_pretrained, pretrained_info
    from rdafnet.weights.registry import models as registered

    if a.model in VARIANTS and a.model not in registered() and not Path(a.model).exists():
        print(
            f"{a.model}: an architecture, not a pretrained model ({describe_model(a.model)}); "
            f"rdafnet.build({a.model!r}) makes it with random weights. Its cost:"
        )
        print(profile(build(a.model), (720, 1280)))
        return 0
    entry = pretrained_info(a.model) if a.model is None or a.model in registered() else None
    if entry is not None and entry["source"] == "authors" and not entry["cached"]:
        print(json.dumps({"pretrained": {"name": a.model, **entry}}, indent=2))
        print(f"not cached: `rdafnet download {a.model}` (or --from FILE); cost of the network (any weights):")
        print(profile(build(entry["variant"]), (720, 1280)))
        return 0
    model = from_pretrained(a.model)
    info = {**model.pretrained, **({k: entry[k] for k in ("cache_path", "file_sha256") if k in entry} if entry else {})}
    print(json.dumps({"pretrained": info, "config": model.config}, indent=2))
    print(profile(model, (720, 1280)))
    return 0
