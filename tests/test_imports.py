"""The package's imports run one way and never in a circle (liveplay/__init__.py draws the layers).

Every ``import`` and ``from ... import`` of a liveplay module is read from the source with ``ast``
-- those inside functions too, since a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "liveplay"

# the layers, bottom first; a module may import its own package or any lower layer
LAYERS = {
    "liveplay.errors": 0,
    "liveplay.yamlsafe": 1,
    "liveplay.soundfont": 1,
    "liveplay.config": 2,
    "liveplay.userconfig": 3,
    "liveplay.music": 3,
    "liveplay.model": 4,
    "liveplay.live": 5,
    "liveplay.offline": 5,
    "liveplay.cli": 6,
    "liveplay.__main__": 7,
    "liveplay": 7,  # the package itself (only __version__ is imported from it)
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit(module: str) -> str:
    """The layer unit a module belongs to: its subpackage, or the top-level module itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "liveplay"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "liveplay":
                continue
            for a in node.names:  # `from liveplay.model import bundle` imports a module
                sub = f"{base}.{a.name}"
                found.add(sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() else base)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(ROOT.rglob("*.py"))}


def violations(g: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in g.items():
        mine = unit(module)
        for target in imported:
            theirs = unit(target)
            if theirs == mine or (target == "liveplay" and module != "liveplay"):
                continue
            if LAYERS[theirs] >= LAYERS[mine]:
                problems.append(f"{module} imports {target} ({theirs} is not below {mine})")
    return problems


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(g.get(m, ())):
            if n not in g:
                continue
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_every_module_is_in_a_layer():
    for module in graph():
        assert unit(module) in LAYERS, f"{module}: not in a layer of tests/test_imports.py"


def test_imports_run_one_way():
    problems = violations(graph())
    assert not problems, "\n".join(problems)


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checks_catch_an_upward_import_a_sideways_one_and_a_cycle():
    assert violations({"liveplay.music.tokens": {"liveplay.live.player"}})
    assert violations({"liveplay.live.app": {"liveplay.offline.generate"}})  # live and offline: siblings
    assert not violations({"liveplay.live.app": {"liveplay.model.bundle", "liveplay.live.ports"}})
    assert find_cycle({"liveplay.model.engine": {"liveplay.model.tf_engine"},
                       "liveplay.model.tf_engine": {"liveplay.model.engine"}})
    assert find_cycle({"liveplay.model.engine": set(), "liveplay.model.tf_engine": {"liveplay.model.engine"}}) is None
