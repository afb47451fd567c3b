"""The package keeps the shape CONTRIBUTING.md describes: small modules with an ``__all__``, a map
that names every module, no import cycles, and no module reaching into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names, at top level) for every ``from course_utils… import …`` in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            found.append((node.module, [a.name for a in node.names], id(node) in top))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_is_small_and_declares_its_api(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name} is over {MAX_LINES} lines: split it"
    assert "__all__" in text, f"{path.name} has no __all__"
    for module, names, _ in imports_of(path):
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{path.name} imports private names {private} from {module}"


def test_the_map_names_every_module():
    map_text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    for path in MODULES:
        name = module_name(path)
        if path.name != "__init__.py":
            assert f"``{name.removeprefix('course_utils.')}``" in map_text, f"{name} is missing from the map"


def test_no_import_cycles_between_modules():
    graph = {module_name(p): {m for m, _, top in imports_of(p) if top} for p in MODULES}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])
