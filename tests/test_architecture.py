"""The shape of the code: no import cycles, a small top level, public faces, no Streamlit in the engine."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "genmix_core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


CORE_MODULES = {_module_name(p): p for p in CORE.rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of ``known`` that the file imports, at module level or inside functions (not under
    ``if TYPE_CHECKING``). ``from pkg import name`` counts as importing ``pkg.name`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(n for n in names if n in known)
    found.discard(this)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_of_sees_function_level_imports(tmp_path):
    known = {"genmix_core.x": tmp_path / "x.py", "genmix_core.y": tmp_path / "y.py"}
    path = REPO / "genmix_core" / "zz_probe.py"
    source = "def f():\n    from genmix_core import y\n"
    try:
        path.write_text(source, encoding="utf-8")
        assert imports_of(path, {**known, "genmix_core.zz_probe": path}) == {"genmix_core.y"}
    finally:
        path.unlink()


def test_genmix_core_has_no_import_cycle():
    graph = {name: imports_of(path, CORE_MODULES) for name, path in CORE_MODULES.items()}
    assert sum(len(v) for v in graph.values()) > 50      # the walk really sees the imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_top_level_is_small_and_every_package_has_a_public_face():
    top = sorted(p.stem for p in CORE.glob("*.py"))
    assert len(top) <= 14, top
    packages = sorted(p.parent.name for p in CORE.glob("*/__init__.py"))
    assert {"data", "prompts", "mixing", "editing", "generate", "train"} <= set(packages)
    for name in packages:
        module = importlib.import_module(f"genmix_core.{name}")
        assert module.__all__, name
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (name, missing)


def test_the_engine_never_imports_streamlit_and_has_no_reexport_noqa():
    for name, path in CORE_MODULES.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(m == "streamlit" or m.startswith("streamlit.") for m in mods), name
        assert "noqa: F401" not in text, name


@pytest.mark.parametrize("path", sorted([REPO / "app.py", *(REPO / "pages").glob("*.py"), *(REPO / "ui").glob("*.py")]),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_pages_import_only_public_faces(path):
    faces = {n for n in CORE_MODULES if n.count(".") == 1}   # genmix_core.<module or package>
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            if name.startswith("genmix_core."):
                assert name in faces, f"{path.name} imports {name}: import its package's face instead"
