"""The package's shape: imports go one way, the model contract, the registry, blocks that fuse themselves."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rdafnet
from rdafnet.layers import RDAFB, Fusable, FusedRDAFB
from rdafnet.models import VARIANTS, RDAFNetBase, from_config

PACKAGE = Path(rdafnet.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """rdafnet module -> the rdafnet modules it imports, at module level or inside functions. Importing
    ``a.b.c`` also runs the ``__init__`` of every package on the way, unless it encloses the importer."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if not t.startswith("rdafnet"):
                    continue
                parts = t.split(".")
                for k in range(1, len(parts) + 1):
                    dep = ".".join(parts[:k])
                    if dep in modules and dep != name and not (name + ".").startswith(dep + "."):
                        graph[name].add(dep)
    return graph


#: Each package's level: a module may import only from packages of a lower level (and from its own
#: package). docs/architecture.md draws the same picture.
LEVELS = {
    "rdafnet._version": 0,
    "rdafnet.utils": 0,
    "rdafnet.layers": 1,
    "rdafnet.io": 1,
    "rdafnet.models": 2,
    "rdafnet.weights": 3,
    "rdafnet.ops": 3,
    "rdafnet.inference": 4,
    "rdafnet.data": 5,
    "rdafnet.evaluation": 6,
    "rdafnet.train": 7,
    "rdafnet.cli": 8,
}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_the_top_level_holds_only_packages_and_the_version():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "_version.py"], top
    packages = sorted(f"rdafnet.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py"))
    assert packages == sorted(k for k in LEVELS if k != "rdafnet._version"), packages
    longest = max(PACKAGE.rglob("*.py"), key=lambda p: len(p.read_text().splitlines()))
    assert len(longest.read_text().splitlines()) <= 450, longest


def test_imports_go_one_way():
    graph = import_graph()
    assert "rdafnet.weights.hub" in graph["rdafnet.cli.deblur"]  # it sees imports
    assert "rdafnet.models.networks" in graph["rdafnet.weights.convert"]
    upward = []
    for module, deps in graph.items():
        if module == "rdafnet":
            continue
        level = LEVELS[_package(module)]
        for dep in deps:
            if dep != "rdafnet" and _package(dep) != _package(module) and LEVELS[_package(dep)] >= level:
                upward.append(f"{module} -> {dep}")
        assert "rdafnet" not in deps, f"{module} imports the top-level package"
    assert not upward, upward


def test_the_direction_test_catches_an_upward_import(tmp_path, monkeypatch):
    # the check above, run on a copy of the package with one upward import planted in the layers
    import shutil

    copy = tmp_path / "rdafnet"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.safetensors", "samples", "assets", "__pycache__"))
    (copy / "layers" / "norm.py").write_text(
        (copy / "layers" / "norm.py").read_text() + "\nfrom rdafnet.models.networks import build\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", copy)
    with pytest.raises(AssertionError, match=r"rdafnet.layers.norm -> rdafnet.models.networks"):
        test_imports_go_one_way()


def test_no_import_cycle_among_modules():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d] if d in stack else [m, d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_import_rdafnet_in_a_fresh_interpreter():
    res = subprocess.run(
        [sys.executable, "-c", "import rdafnet; print(rdafnet.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and res.stdout.strip() == rdafnet.__version__, res.stderr


def test_model_contract():
    for name, variant in VARIANTS.items():
        with torch.device("meta"):
            model = rdafnet.build(name)
        assert isinstance(model, RDAFNetBase) and isinstance(model, variant.cls) and model.variant == name
        assert model.input_range == (0.0, 1.0) and model.size_multiple == 2 and model.min_size == 4
        assert set(model.precisions) == {"fp32", "bf16", "fp16"}
        assert model.num_stages == (3 if name == "multi-stage" else 1)
    x = torch.rand(1, 3, 5, 7)
    model = rdafnet.build("tiny", width=8, num_blocks=1).eval()
    with torch.no_grad():
        assert model(x).shape == x.shape  # odd and below min_size: padded, cropped back


def test_config_round_trip_and_unknown_keys():
    model = rdafnet.build("small")
    again = from_config(model.config)
    assert type(again) is type(model) and again.config == model.config
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['depth', 'widht'\] for RDAFNet"):
        from_config({**model.config, "widht": 16, "depth": 3})
    with pytest.raises(ValueError, match="architecture 'UNet'"):
        from_config({"architecture": "UNet"})


def test_block_fuses_itself_and_optimize_walks_any_model():
    torch.manual_seed(0)
    block = RDAFB(8, num_convs=3).eval()
    assert isinstance(block, Fusable)
    fused = block.fuse()
    assert isinstance(fused, FusedRDAFB)
    x = torch.rand(2, 8, 12, 14)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), block(x), rtol=1e-5, atol=1e-5)
    mine = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), RDAFB(8), RDAFB(8)).eval()
    fast = rdafnet.optimize(mine)
    assert [type(m) for m in fast] == [torch.nn.Conv2d, FusedRDAFB, FusedRDAFB]
    assert fast[1].workspace is fast[2].workspace
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), mine(x), rtol=1e-4, atol=1e-5)


def test_norm_window_is_in_input_pixels_for_any_stack():
    alone = RDAFB(4)  # a block at full resolution
    net = rdafnet.build("tiny", width=4, num_blocks=2)  # blocks at half resolution
    rdafnet.set_norm_window(alone, 64)
    rdafnet.set_norm_window(net, 64)
    assert alone.norm_window == 64
    assert {b.norm_window for b in net.body.blocks} == {32}
    fused = rdafnet.optimize(net)
    assert {m.norm_window for m in fused.modules() if isinstance(m, FusedRDAFB)} == {32}
    rdafnet.set_norm_window(fused, None)
    assert {m.norm_window for m in fused.modules() if isinstance(m, FusedRDAFB)} == {None}
    for bad in (1, -5, 2.5, True):
        with pytest.raises(ValueError, match="integer >= 2"):
            rdafnet.set_norm_window(net, bad)


def test_cli_errors_are_one_line_with_one_exit_code_per_kind(tmp_path, capsys):
    from rdafnet.cli import COMMANDS, main
    from rdafnet.cli._args import EXIT_REFUSED

    assert all(callable(c.add_parser) for c in COMMANDS)
    cases = [
        ["convert", str(tmp_path / "nope.pth"), str(tmp_path / "out")],  # missing file
        ["info", str(tmp_path / "nope")],  # unknown model
        ["deblur", str(tmp_path / "empty"), "-o", str(tmp_path / "o")],
    ]  # no inputs
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    cases.append(["convert", str(tmp_path / "bad.pth"), str(tmp_path / "out")])  # unreadable file
    for args in cases:
        assert main(args) == EXIT_REFUSED, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1, err
    main(["convert", str(tmp_path / "nope.pth"), str(tmp_path / "out")])
    assert "nope.pth not found" in capsys.readouterr().err


def test_no_link_to_a_project_repository_that_does_not_exist():
    # the project has no public repository: docs link relatively, model cards name the package
    root = PACKAGE.parent
    files = [root / "README.md", root / "pyproject.toml", *root.joinpath("docs").rglob("*.md")]
    files += [p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".md", ".json")]
    found = [str(p.relative_to(root)) for p in files if "github.com/rdafnet" in p.read_text(errors="replace")]
    assert not found, found
    card = rdafnet.build("tiny", width=4, num_blocks=1).generate_model_card()
    assert "github.com/rdafnet" not in str(card) and "`rdafnet` library" in str(card)


def test_the_package_ships_its_type_hints():
    # py.typed tells users' type checkers to read the hints; pyproject's package-data puts it in the wheel
    import tomllib

    assert (PACKAGE / "py.typed").is_file()
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["rdafnet"]


def test_the_benchmark_scripts_are_small_modules_too():
    scripts = sorted((PACKAGE.parent / "benchmarks").glob("*.py"))
    longest = max(scripts, key=lambda p: len(p.read_text().splitlines()))
    assert len(longest.read_text().splitlines()) <= 450, longest
