"""``rdafnet list`` and ``rdafnet info``: what is installed, and one model's config and cost."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("list", help="list pretrained models and architectures")
    s.set_defaults(run=run_list)

    s = sub.add_parser("info", help="show a model's config, size and cost")
    s.add_argument("model", nargs="?", default=None)
    s.set_defaults(run=run_info)


def run_list(a: argparse.Namespace) -> int:
    from ..hub import list_pretrained
    from ..models import describe_model, list_models
    print("pretrained models (rdafnet.from_pretrained(NAME)):")
    for name, desc in list_pretrained().items():
        print(f"  {name:28s} {desc}")
    print("architectures (rdafnet.build(NAME), random weights):")
    for name in list_models():
        print(f"  {name:28s} {describe_model(name)}")
    return 0


def run_info(a: argparse.Namespace) -> int:
    import json

    from ..hub import from_pretrained
    from ..profile import profile
    model = from_pretrained(a.model)
    print(json.dumps({"pretrained": model.pretrained, "config": model.config}, indent=2))
    print(profile(model, (720, 1280)))
    return 0
