"""The layout keeps its promises: library code never imports test scaffolding, the import graph
between baton_tta's parts has no cycle (imports inside functions included), and the pipeline file
that ships inside saved folders stands alone."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import baton_tta

PACKAGE = Path(baton_tta.__file__).parent
#: Parts that exist to run things (commands, the built-in worlds), never imported by the library.
SCAFFOLDING = ("baton_tta.tiny", "baton_tta.toy", "baton_tta.scripts", "baton_tta.cli", "baton_tta.estimate")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every baton_tta module a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("baton_tta"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("baton_tta"))
    return found


def _part(module: str) -> str:
    """``baton_tta.reward.modeling`` → ``reward``; top-level modules (``clap``, ``tiny``) are parts."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        source = _part(_module_name(path)) if _module_name(path) != "baton_tta" else "__init__"
        targets = {_part(m) for m in _imports(path) if m != "baton_tta"}
        graph.setdefault(source, set()).update(t for t in targets if t != source)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_import_graph_between_parts_has_no_cycle():
    graph = _graph()
    assert {"pipelines", "data", "reward", "trainer", "metrics", "hub", "toy", "scripts"} <= set(graph)
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph))}"


def _module_graph() -> dict[str, set[str]]:
    """Module → the baton_tta modules it imports (``from baton_tta.toy import vocoder`` names the
    module ``baton_tta.toy.vocoder``), every module of the package."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("baton_tta"):
                named = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                targets.update(named or {node.module})
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("baton_tta"))
        targets.discard(module)
    return graph


def test_no_cycle_inside_a_part():
    """The part graph drops edges inside a part, so ``toy/loop.py`` ↔ ``toy/pretrained.py`` passed it;
    modules of one part must not import each other in a circle either."""
    graph = _module_graph()
    for part in {_part(m) for m in graph if m != "baton_tta"}:
        inside = {
            m: {t for t in targets if t != "baton_tta" and _part(t) == part}
            for m, targets in graph.items()
            if m != "baton_tta" and _part(m) == part
        }
        cycle = _find_cycle(inside)
        assert cycle is None, f"import cycle inside {part}/: {' -> '.join(cycle)}"


def test_module_graph_sees_the_circle_that_was_there():
    """The circle the trust probe found, as it was: each module importing the other."""
    graph = {
        "baton_tta.toy.loop": {"baton_tta.toy.pretrained"},
        "baton_tta.toy.pretrained": {"baton_tta.toy.loop"},
    }
    assert _find_cycle(graph) == ["baton_tta.toy.loop", "baton_tta.toy.pretrained", "baton_tta.toy.loop"]
    assert "baton_tta.toy.vocoder" in _module_graph()["baton_tta.toy.pretrained"]


def test_cycle_finder_finds_a_planted_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_never_imports_scaffolding():
    """Only the scaffolding itself may import tiny, toy, scripts or cli."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if module.startswith(SCAFFOLDING):
            continue
        offenders += [f"{module} imports {m}" for m in _imports(path) if m.startswith(SCAFFOLDING)]
    assert not offenders, offenders


def test_main_paths_load_no_scaffolding():
    """Importing the library's stages (what users' code imports) loads no test or demo scaffolding."""
    code = (
        "import sys, json, baton_tta, baton_tta.data, baton_tta.prompts, baton_tta.reward, baton_tta.trainer, "
        "baton_tta.metrics, baton_tta.annotate, baton_tta.hub.cards, baton_tta.hub.datasets; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('baton_tta'))))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert "baton_tta.trainer.baton_trainer" in loaded and "baton_tta.reward.modeling" in loaded
    assert not [m for m in loaded if m.startswith(SCAFFOLDING)], loaded
    assert not [m for m in loaded if "loopback" in m or "testing" in m], loaded


def test_pipeline_file_stands_alone():
    """``pipeline_tango.py`` is copied into every saved folder: it may import no baton_tta code."""
    assert not _imports(PACKAGE / "pipelines" / "pipeline_tango.py")


def test_the_top_level_and_the_command_list_load_no_torch():
    """`baton-tta --help` took 7.5 s because `import baton_tta` imported diffusers and torch; the top
    level is lazy now (benchmarks/cli_startup.py measures it)."""
    code = (
        "import sys, baton_tta, baton_tta.cli; baton_tta.cli.usage(); "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'trl') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_plotting_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """Six library functions called matplotlib.use("Agg"), switching the user's backend (a notebook's
    included); figures are made with the Figure API now."""
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "from baton_tta.hub.cards import plot_training_curves; "
        f"plot_training_curves([{{'loss': 1.0, 'step': 1}}, {{'loss': 0.5, 'step': 2}}], {str(tmp_path / 'c.png')!r}); "
        "print(matplotlib.get_backend())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "svg" and (tmp_path / "c.png").stat().st_size > 1000
    sources = [p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")]
    assert not any("matplotlib.use(" in text or "import matplotlib.pyplot" in text for text in sources)


def test_every_upload_goes_through_hub_push():
    """Five push paths had grown (``upload_folder`` in two places, ``create_commit`` in the online
    report, ``push_to_hub`` of datasets and cards); every upload is :mod:`baton_tta.hub.push` now. The
    one exception is the pipeline file's own ``save_pretrained(push_to_hub=True)``, which must stand
    alone and uses diffusers' upload."""
    calls = ("upload_folder", "upload_file", "create_commit", "push_to_hub")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if module in ("baton_tta.hub.push", "baton_tta.pipelines.pipeline_tango"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                owner = getattr(getattr(node.func, "value", None), "id", "")
                if name in calls and owner != "trainer":  # the trainers' push_to_hub is push_folder
                    offenders.append(f"{module}:{node.lineno} calls {name}")
    assert not offenders, offenders


_COPIED_FROM = "# Copied from "


def _body_without_docstring(function: ast.FunctionDef) -> str:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    return "\n".join(ast.dump(node) for node in body)


def _drifted_copies(source: str, where: str) -> list[str]:
    """Every ``# Copied from dotted.path`` marker whose function's code (docstrings and comments
    aside) is not the code of the function it names, in the installed library."""
    import importlib
    import inspect
    import textwrap

    lines = source.splitlines()
    functions = {
        node.lineno: node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
    }
    drifted = []
    for number, line in enumerate(lines, start=1):
        if not line.strip().startswith(_COPIED_FROM):
            continue
        target = line.strip()[len(_COPIED_FROM) :].split(" with ")[0]
        ours = next((functions[n] for n in sorted(functions) if n > number), None)
        module_name, _, attribute = target.rpartition(".")
        owner: object
        try:
            owner = importlib.import_module(module_name)
            theirs_object = getattr(owner, attribute)
        except (ImportError, AttributeError):
            class_module, _, class_name = module_name.rpartition(".")
            theirs_object = getattr(getattr(importlib.import_module(class_module), class_name), attribute)
        theirs = ast.parse(textwrap.dedent(inspect.getsource(theirs_object))).body[0]
        assert isinstance(theirs, ast.FunctionDef) and ours is not None
        if _body_without_docstring(ours) != _body_without_docstring(theirs):
            drifted.append(f"{where}:{number}: {ours.name} differs from {target}")
    return drifted


def test_copied_from_markers_match_their_source():
    """``# Copied from`` bodies had drifted and nothing checked them (diffusers' ``make fix-copies``
    does); a marker now promises the very code of the installed library's function."""
    drifted = []
    for path in PACKAGE.rglob("*.py"):
        drifted += _drifted_copies(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert not drifted, drifted


def test_the_copy_check_finds_drift():
    import inspect
    import textwrap

    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

    target = "diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion.StableDiffusionPipeline"
    original = textwrap.dedent(inspect.getsource(StableDiffusionPipeline.prepare_extra_step_kwargs))
    marker = f"{_COPIED_FROM}{target}.prepare_extra_step_kwargs\n"
    assert _drifted_copies(marker + original, "planted.py") == []
    edited = original.replace('extra_step_kwargs["eta"] = eta', 'extra_step_kwargs["eta"] = 0.0')
    assert _drifted_copies(marker + edited, "planted.py") == [
        f"planted.py:1: prepare_extra_step_kwargs differs from {target}.prepare_extra_step_kwargs"
    ]


DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _documented_imports(text: str) -> dict[str, set[str] | None]:
    """docs/architecture.md's part table: part → the parts its last column lists (None: "any part")."""
    table: dict[str, set[str] | None] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        names = [name.rstrip("/").removesuffix(".py") for name in re.findall(r"`([^`]+)`", cells[0])]
        allowed = None if cells[-1] == "any part" else set(re.findall(r"`([^`]+)`", cells[-1]))
        for name in names:
            table[name] = allowed
    return table


def _undocumented(graph: dict[str, set[str]], table: dict[str, set[str] | None]) -> list[str]:
    problems = [f"{part}: not in the table" for part in sorted(graph) if part not in table]
    for part, allowed in sorted(table.items()):
        if allowed is None:
            continue
        actual = graph.get(part, set())
        problems += [f"{part} imports {t}, which the table does not list" for t in sorted(actual - allowed)]
        problems += [f"{part} lists {t}, which it does not import" for t in sorted(allowed - actual)]
    return problems


def test_the_documented_import_table_is_the_code():
    """Each part imports exactly the parts its row in docs/architecture.md lists."""
    assert _undocumented(_graph(), _documented_imports(DOCS.read_text(encoding="utf-8"))) == []


def test_the_import_table_check_finds_an_undocumented_import():
    table = {"data": {"families"}, "families": {"pipelines"}, "pipelines": set()}
    graph = {"data": {"families", "trainer"}, "families": set(), "pipelines": set()}
    assert _undocumented(graph, table) == [
        "data imports trainer, which the table does not list",
        "families lists pipelines, which it does not import",
    ]


#: Modules of the package that no other module imports, and why they are library, not lab: each is
#: an entry point or a public building block that users (and the lab) call.
ENTRY_POINTS = {
    "baton_tta.families.published": "each family's published denoiser config, for memory planning",
    "baton_tta.metrics.evaluate_metric": "loaded by the evaluate modules in evaluate_metrics/",
    "baton_tta.pipelines.export_tango": "writes TANGO's original layout for users' converter tests",
    "baton_tta.toy.build_pretrained": "python -m baton_tta.toy.build_pretrained rebuilds the shipped toy models",
    "baton_tta.cli": "the baton-tta console script (pyproject's [project.scripts])",
}


def test_the_package_holds_no_module_only_benchmarks_or_tests_import():
    """The lab's comparisons live in benchmarks/toy/: every module of the package is imported by
    another one, is a command (``scripts/``, named by ``cli.py``), a package, or a listed entry point."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    imported: set[str] = set()
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("baton_tta"):
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
    packages = {_module_name(path) for path in PACKAGE.rglob("__init__.py")}
    commands = {name for name in modules if name.startswith("baton_tta.scripts.")}
    orphans = set(modules) - imported - packages - commands - set(ENTRY_POINTS)
    assert orphans == set()
    assert set(ENTRY_POINTS) <= set(modules)
