"""The package keeps the shape CONTRIBUTING.md describes: small modules whose ``__all__`` lists what
others import from them, a map that names every module, imports that go one way between rooms and
never in a cycle (at the top of a module or inside a function), and no module reaching into
another's private names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400

ROOMS_BELOW = {
    # a room may import these rooms (and the shared modules at the top: env, context, arguments, progress)
    "storage": set(),
    "data": {"storage"},
    "lessons": {"storage", "data"},
    "models": {"storage", "data"},
    "analysis": {"storage", "data", "models", "lessons"},
    "training": {"storage", "data", "models", "analysis"},
    "transfer": {"storage", "data", "models", "analysis", "training"},
    "command": {"storage", "data", "models", "analysis", "training", "transfer"},
    "exercises": {"storage", "data", "models", "analysis", "training", "lessons"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names, at top level) for every ``from course_utils… import …``, wherever it stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            found.append((node.module, [a.name for a in node.names], id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top) for a in node.names if a.name.startswith("course_utils.")]
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_is_small_and_declares_its_api(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name} is over {MAX_LINES} lines: split it"
    assert "__all__" in text, f"{path.name} has no __all__"
    for module, names, _ in imports_of(path):
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{path.name} imports private names {private} from {module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_what_other_modules_import_is_in_all(path):
    for module, names, _ in imports_of(path):
        if not names or module == "course_utils":
            continue
        imported = importlib.import_module(module)
        if hasattr(importlib.import_module(module), "__path__"):  # a subpackage: its modules by name
            continue
        missing = [n for n in names if n not in imported.__all__]
        assert not missing, f"{module_name(path)} imports {missing} from {module}, whose __all__ leaves them out"


def test_the_map_names_every_module():
    map_text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    for path in MODULES:
        name = module_name(path)
        if path.name != "__init__.py":
            assert f"``{name.removeprefix('course_utils.')}``" in map_text, f"{name} is missing from the map"


def test_rooms_import_one_way():
    for path in MODULES:
        here = room(module_name(path))
        if here is None:
            continue
        for module, _, _ in imports_of(path):
            there = room(module)
            if there is not None and there != here:
                assert there in ROOMS_BELOW[here], f"{module_name(path)} ({here}/) imports {module} ({there}/)"


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        targets = set()
        for module, names, top in imports_of(path):
            if top_level_only and not top:
                continue
            # "from course_utils.models import build" imports the module course_utils.models.build
            sub = [f"{module}.{n}" for n in names if (PACKAGE.parent / f"{module}.{n}".replace(".", "/")).with_suffix(".py").is_file()]
            targets.update(sub or [module])
        graph[module_name(path)] = targets - {module_name(path)}
    return graph


@pytest.mark.parametrize("top_level_only", [True, False], ids=["top-level imports", "all imports"])
def test_no_import_cycles_between_modules(top_level_only):
    graph = _graph(top_level_only)
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_cycle_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    """A cycle hidden behind an import inside a function is still found."""
    package = tmp_path / "course_utils"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("__all__ = []\n")
    (package / "a" / "__init__.py").write_text("__all__ = []\n")
    (package / "a" / "one.py").write_text("from course_utils.a.two import g\n__all__ = ['f']\ndef f(): return g()\n")
    (package / "a" / "two.py").write_text("__all__ = ['g']\ndef g():\n    from course_utils.a.one import f\n    return f\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", package)
    monkeypatch.setattr(__import__(__name__), "MODULES", sorted(package.rglob("*.py")))
    test_no_import_cycles_between_modules(top_level_only=True)  # no cycle among top-level imports
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycles_between_modules(top_level_only=False)
