"""The layers of toylab (docs/architecture.md): imports only point down, and no module imports
itself back through others. Every import counts, function-level ones included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "toylab"

#: package -> layer; a module may import from its own package and from lower layers only
LAYERS = {"measure": 0, "games": 0, "engine": 1, "pictures": 2, "experiments": 3, "": 4}
#: packages side by side on one layer that must not import each other
APART = {("measure", "games"), ("games", "measure")}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def imports(path: Path) -> set[str]:
    """toylab modules imported by the file (absolute names), at any depth of its code."""
    me = module_name(path)
    here = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("toylab"):
                continue
            for alias in node.names:        # `from . import x` may name a module
                sub = f"{mod}.{alias.name}"
                found.add(sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists()
                          or (ROOT.parent / sub.replace(".", "/")).is_dir() else mod)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("toylab")}
    found.discard(me)
    return found


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
GRAPH = {m: {i for i in imports(p) if i in MODULES} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = package_of(module)
    for dep in GRAPH[module]:
        theirs = package_of(dep)
        if dep == "toylab" or theirs == mine:
            continue
        assert LAYERS[theirs] < LAYERS[mine] and (mine, theirs) not in APART, \
            f"{module} (layer {mine or 'faces'}) imports {dep} (layer {theirs or 'faces'})"


def test_no_import_circle():
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(GRAPH[m]):
            if d == "toylab" or m == "toylab":
                continue
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [])


def test_the_layers_are_what_the_docs_say():
    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    for package in ("measure", "games", "engine", "pictures", "experiments"):
        assert f"toylab/{package}" in text
    for module in MODULES:
        if module.count(".") == 2:                 # toylab.<package>.<module>
            assert f"{module.split('.')[-1]}" in text, f"docs/architecture.md does not name {module}"


def test_the_command_line_starts_without_torch():
    """`toylab --help` and building the parser import neither torch nor matplotlib (0.2 s, not 1.5 s):
    the choices it lists (panels, themes, sizes) live in toylab.pictures.looks."""
    import subprocess
    import sys
    code = ("import sys; from toylab.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT.parent).stdout
    assert out.strip() == "[]"


def test_a_sweep_worker_starts_without_torch():
    """A sweep's worker process imports toylab.experiments.runner (for its initializer) before
    anything else runs: without torch that takes a fraction of a second, so its watch on the
    parent starts at once. With torch (measure.outcomes had imported it through measure.modes)
    a worker still importing on a busy machine outlived a kill -9 of its sweep by more than 5 s."""
    import subprocess
    import sys
    code = ("import sys; import toylab.experiments.runner; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT.parent).stdout
    assert out.strip() == "[]"


DASH = ROOT.parent / "dashboards"


def _dash_graph() -> dict[str, set[str]]:
    """dashboards' modules -> the dashboards modules each imports (function-level ones too)."""
    def name(p: Path) -> str:
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    mods = {name(p): p for p in DASH.rglob("*.py")}
    graph = {}
    for m, p in mods.items():
        here = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
        graph[m] = {d for d in deps if d in mods and d != m}
    return graph


def test_the_dashboard_has_no_import_circle_and_nothing_imports_its_app():
    """dashboards.app (the page and the server) is the top: pages and sessions never import it
    (they did, inside functions, for the client's address)."""
    graph = _dash_graph()
    assert not [m for m, deps in graph.items() if "dashboards.app" in deps
                    and m not in ("dashboards.__main__", "dashboards.command")]
    done: set[str] = set()

    def visit(m, path):
        assert m not in path, "import circle: " + " -> ".join(path + [m])
        if m not in done:
            for d in sorted(graph[m]):
                visit(d, path + [m])
            done.add(m)

    for m in sorted(graph):
        visit(m, [])
    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    for m in graph:
        if m.count(".") >= 1 and m.split(".")[-1] not in ("pages", "__main__"):
            assert f"`{m.split('.')[-1]}`" in text, f"docs/architecture.md does not name {m}"


def _all_imports(path: Path) -> set[str]:
    """Every module name the file imports, at any depth (any package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_library_never_imports_the_dashboard(module):
    """docs/architecture.md: nothing in toylab imports dashboards (the CLI finds `toylab
    dashboard` through the toylab.commands entry point), not even inside a function."""
    assert not [m for m in _all_imports(MODULES[module]) if m.split(".")[0] == "dashboards"]


def test_toylab_dashboard_comes_from_the_entry_point(capsys):
    from importlib.metadata import entry_points

    from toylab.cli import COMMANDS_GROUP, main
    assert {ep.value for ep in entry_points(group=COMMANDS_GROUP)} == {"dashboards.command:register"}
    with pytest.raises(SystemExit) as info:
        main(["dashboard", "--help"])
    assert info.value.code == 0 and "--max-runs" in capsys.readouterr().out


# ---- the function-level import rule (docs/architecture.md: three reasons, and only these) -----
#: imported where used to keep start-up light (torch, the drawing libraries, SciPy, tqdm)
START_UP = {"torch", "matplotlib", "plotly", "_plotly_utils", "scipy", "tqdm", "contourpy", "PIL"}
#: optional dependencies, and the standard library's process and C boundaries
OPTIONAL = {"yaml", "tomllib", "tomli", "pyarrow", "dask", "imageio_ffmpeg"}
BOUNDARY = {"multiprocessing", "ctypes"}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    here = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    return ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))


def _names(module: str, node) -> list[str]:
    """The modules an import statement loads (toylab ones by their full name)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    mod = _resolve(module, node)
    return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]


def _top_statements(module: str, body=None):
    """The import statements that run when `module` is imported (not those inside functions or
    classes, nor under `if TYPE_CHECKING:`, which is for editors only)."""
    for node in ast.parse(MODULES[module].read_text()).body if body is None else body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            yield from _top_statements(module, node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_statements(module, node.body + node.orelse + node.finalbody
                                       + [x for h in node.handlers for x in h.body])


def heavy(module: str) -> set[str]:
    """The START_UP libraries importing `module` loads: a walk over the top-level imports of it,
    its parent packages and every toylab module they load."""
    found, todo, seen = set(), [module], set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES]
        for node in _top_statements(m):
            for name in _names(m, node):
                if name in MODULES:
                    todo.append(name)
                elif name.split(".")[0] in START_UP:
                    found.add(name.split(".")[0])
    return found


def test_every_function_level_import_has_one_of_the_three_reasons():
    """A function-level import loads an optional dependency, crosses a process boundary, or
    keeps start-up light: a library that START_UP names, or a toylab module whose import would
    load one that the importing module does not (the CLI's commands import their layers). Any
    other belongs at the top (animation, api and report had four)."""
    bad = []
    for module, path in MODULES.items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in (n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))):
                names = _names(module, node)
                ok = module == "toylab.cli" or any(
                    n.split(".")[0] in START_UP | OPTIONAL | BOUNDARY
                    or (n in MODULES and heavy(n) - heavy(module)) for n in names)
                if not ok:
                    bad.append(f"{module}:{node.lineno} imports {', '.join(names)}")
    assert not bad, bad


def test_no_module_imports_another_modules_private_names():
    """A name another module needs is public (issue #30 counted 7 private cross-module imports)."""
    bad = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                bad += [f"{module}: {a.name} from {node.module}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad


def test_no_dashboard_function_is_over_60_lines():
    """The tabs' callbacks are Page methods, each short enough to read at once (the Train tab's
    callbacks were one 373-line closure with a 104-line draw)."""
    long = []
    for path in sorted((ROOT.parent / "dashboards").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} "
                            f"({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_every_session_callback_declares_the_session_last():
    """with_session reads a callback's last argument as the tab's session id: every Page method
    it wraps declares State(SESSION) last, so no callback reads another value as the id."""
    from dash import State

    from dashboards import ids as I
    from dashboards.app import LabPage
    from dashboards.pages import compare, page, train, train_export, train_target, xy
    wrapped = 0
    for cls in (LabPage, train.TrainPage, train_target.TargetPage, train_export.ExportPage, compare.ComparePage,
                xy.XyPage):
        assert issubclass(cls, page.Page)
        for name, fn in vars(cls).items():
            declared = getattr(fn, "dash_callback", None)
            if declared is None:
                continue
            uses = any(getattr(d, "component_id", None) == I.SESSION for d in declared[0])
            if uses:
                last = declared[0][-1]
                assert isinstance(last, State) and last.component_id == I.SESSION, f"{cls.__name__}.{name}"
                wrapped += 1
    assert wrapped >= 10


def _loaded_after(code: str) -> list[str]:
    """The heavy modules (and games.plane) a fresh interpreter holds after running `code`."""
    import subprocess
    import sys
    probe = ("; print(sorted(m for m in ('torch', 'matplotlib', 'scipy', 'toylab.games.plane', "
             "'toylab.engine.datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", "import sys; " + code + probe], capture_output=True, text=True,
                         check=True, cwd=ROOT.parent).stdout
    return eval(out.strip().splitlines()[-1])


def test_the_numpy_modules_import_no_torch_and_the_games_load_their_plane_on_first_use():
    """What the docs say imports without torch does (the KDE's bandwidths and grid, D*, the looks,
    the games' config and methods), `import toylab.games` leaves `plane` (torch) for first use,
    and `toylab --help` itself (not only the parser) loads neither torch nor matplotlib."""
    assert _loaded_after("import toylab.measure.bandwidth, toylab.measure.kde_grid, toylab.measure.dstar, "
                         "toylab.pictures.looks, toylab.games.config, toylab.games.methods") == []
    assert _loaded_after("import toylab.games") == []
    assert "toylab.games.plane" in _loaded_after("import toylab.games; toylab.games.trajectory")
    assert _loaded_after("from toylab.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass") == []


def test_the_public_short_names_are_the_modules_themselves_loaded_on_first_use():
    """`from toylab import datasets` gives toylab.engine.datasets itself (not a copy), and only
    when it is first asked for."""
    assert "toylab.engine.datasets" not in _loaded_after("import toylab")
    import toylab
    import toylab.engine.datasets
    import toylab.pictures.mpl_figures
    import toylab.pictures.plotly_figures
    assert toylab.datasets is toylab.engine.datasets
    assert toylab.viz is toylab.pictures.mpl_figures and toylab.figures is toylab.pictures.plotly_figures


def test_the_pages_hold_no_closures_and_every_session_callback_reads_the_session_last():
    """The tabs' callbacks are Page methods, never functions made inside other functions: nothing
    in dashboards/ registers a callback but Page.register (no app.callback / clientside_callback
    call anywhere else); a method with_session wraps is a declared callback with the session id
    declared last, or is called with it last (draw: update passes it)."""
    registering = []
    for path in sorted(DASH.rglob("*.py")):
        if path.name == "page.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("callback", "clientside_callback") \
                    and isinstance(node.value, ast.Name) and node.value.id == "app":
                registering.append(f"{path.relative_to(DASH)}:{node.lineno}")
    assert not registering, registering
    from dashboards import ids as I
    from dashboards.app import LabPage
    from dashboards.pages import compare, train, train_export, train_target, xy
    wrapped = []
    for cls in (LabPage, train.TrainPage, train_target.TargetPage, train_export.ExportPage, compare.ComparePage,
                xy.XyPage):
        for name, fn in vars(cls).items():
            if hasattr(fn, "__wrapped__"):                    # with_session's
                declared = getattr(fn, "dash_callback", None)
                wrapped.append(name)
                if declared is not None:
                    assert declared[0][-1].component_id == I.SESSION, f"{cls.__name__}.{name}"
    assert "draw" in wrapped and len(wrapped) >= 11
