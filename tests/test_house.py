"""The house rules of ``src/``, checked on every run: rooms import only downwards, no module is too long to
read, no function too long to hold in one's head, and every public name says what it is.

Rooms, lowest first (a room may import its own modules and any lower room, never a higher one)::

    demo < features < rules < engines < train < serve < report < app

A command's ``__main__`` module is the top of the house: it may import any room (it is the table of
contents of one command). ``features`` is the one definition of every feature; ``engines`` move data and
run that definition; ``train`` learns and tracks; ``serve`` scores; ``report`` is what people read; ``app``
is what the commands share (exit codes, run folders, the config check).

``tests/`` mirrors ``src/``: ``tests/<room>/<subpackage>/test_<module>.py`` tests ``src/<room>/<subpackage>/<module>.py``
(or the package ``<module>/``; ``test_main.py`` tests ``__main__.py``). The whole-pipeline files, which test no one
module, are listed by name in ``WHOLE_PIPELINE`` with why.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
TESTS = Path(__file__).resolve().parent
ROOMS = ("demo", "features", "rules", "engines", "train", "serve", "report", "app")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
# functions allowed to be longer, and why (keep this list short)
LONG_FUNCTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "egg-info" not in str(p))


def _name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = _modules()
KNOWN = {_name(p) for p in MODULES}


def _imports(path: Path) -> set[str]:
    """Every project module a file imports (at any depth: imports inside functions count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    package = _name(path).split(".") if path.name == "__init__.py" else _name(path).split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from pkg import module` imports that module; `from module import name` the module itself
            subs = {f"{base}.{alias.name}" for alias in node.names} & KNOWN
            found.update(subs or {base})
    return {name for name in found if name.split(".")[0] in ROOMS}


IDS = [str(p.relative_to(SRC)) for p in MODULES]


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_imports_go_down(path: Path) -> None:
    """A room imports only from itself and the rooms below it (a ``__main__`` module may import any)."""
    if path.name == "__main__.py":
        return
    room = _name(path).split(".")[0]
    if room not in ROOMS:
        return
    level = ROOMS.index(room)
    upward = sorted(m for m in _imports(path) if ROOMS.index(m.split(".")[0]) > level)
    assert not upward, f"{_name(path)} ({room}) imports a higher room: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_no_private_hydra(path: Path) -> None:
    """Hydra's internals (``hydra._internal``) change without notice: only its public API is used."""
    text = path.read_text()
    assert "hydra._internal" not in text, f"{path.relative_to(SRC)} uses hydra._internal"


def test_no_circles_between_modules() -> None:
    """No module imports itself back through others (import time or not)."""
    graph = {_name(p): {m for m in _imports(p) if m != _name(p)} for p in MODULES}
    known = set(graph)
    graph = {m: {d for d in deps if d in known} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles[:5])


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_files_are_short(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(SRC)} has {lines} lines (at most {MAX_FILE_LINES})"


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_functions_are_short(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            key = f"{_name(path)}.{node.name}"
            if lines > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                long.append(f"{node.name} ({lines} lines)")
    assert not long, f"{path.relative_to(SRC)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_public_names_have_docstrings(path: Path) -> None:
    tree = ast.parse(path.read_text())
    missing = []
    if not ast.get_docstring(tree):
        missing.append("(module)")
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if not ast.get_docstring(node):
                missing.append(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_")
                            and not ast.get_docstring(item)):
                        missing.append(f"{node.name}.{item.name}")
    assert not missing, f"{path.relative_to(SRC)}: public names without a docstring: {missing}"


# -- tests/ mirrors src/ ----------------------------------------------------------------------------

# test files that exercise a whole path through the rooms rather than one module, and why (keep it short)
WHOLE_PIPELINE: dict[str, str] = {
    "test_house.py": "the house rules of src/ itself",
    "test_readme.py": "every command of README.md and docs/*.md, run as printed",
    "test_docs.py": "the reference pages against the config schema and their links",
    "test_notebook.py": "the notebook, end to end on a fresh training run",
    "test_wheel.py": "the built wheel, installed in a fresh venv",
    "features/test_point_in_time.py": "nothing at or after t changes a feature at t: loading, planning and building",
    "engines/spark/test_point_in_time.py": "the same property on the Spark engine, against the local one",
    "train/test_train_end_to_end.py": "python -m train on the demo world: summary, report, MLflow",
    "serve/test_serve_end_to_end.py": "python -m serve after training: scores, tiers, writes, monitoring",
    "serve/test_postgres.py": "python -m serve into a real PostgreSQL server it starts",
}


def _mirrored(test: Path) -> list[Path]:
    """Where the module (or package) a test file names lives in src/: test_main.py names __main__.py."""
    rel = test.relative_to(TESTS)
    name = rel.stem.removeprefix("test_")
    name = "__main__" if name == "main" else name
    folder = SRC.joinpath(*rel.parts[:-1])
    return [folder / f"{name}.py", folder / name / "__init__.py"]


TEST_FILES = sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("test", TEST_FILES, ids=[str(p.relative_to(TESTS)) for p in TEST_FILES])
def test_test_files_mirror_src(test: Path) -> None:
    """A test file names the module it tests by its path, or is one of the few whole-pipeline files."""
    rel = test.relative_to(TESTS).as_posix()
    if rel in WHOLE_PIPELINE:
        return
    wanted = _mirrored(test)
    assert any(p.exists() for p in wanted), (
        f"tests/{rel} names no module of src/: expected {wanted[0].relative_to(SRC.parent)} (or the package "
        f"{wanted[1].parent.relative_to(SRC.parent)}/); move it, or list it in WHOLE_PIPELINE with why")


def test_whole_pipeline_files_exist() -> None:
    """The list of whole-pipeline files names files that are there (a stale entry hides nothing)."""
    missing = sorted(rel for rel in WHOLE_PIPELINE if not (TESTS / rel).exists())
    assert not missing, f"WHOLE_PIPELINE names files that are not in tests/: {missing}"
