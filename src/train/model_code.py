"""The project code a logged model ships with (MLflow ``code_paths``), and its hashes.

The pyfunc (``pyfunc_model.py``) imports :mod:`train.scorer`, which imports part of ``train``,
``rules`` and ``features``. So that the registered model loads where this project is not installed,
the model ships exactly those modules: the closure of the module-level imports of ``pyfunc_model.py``
within the project's rooms (plus each package's ``__init__.py``) -- the bundle's integrity
(:mod:`train.bundle`), never the tracking code. Imports inside functions (``mlflow``, ``skops``, the
training code) are not followed: they are not needed to load the model, and the ones needed to
predict are third-party packages listed in its requirements.

The shipped files are hashed (sha256) into the bundle's manifest under ``"shipped_code"``, so the
content hash recorded at registration covers them too, and :func:`verify_shipped_code` refuses a
model whose ``code/`` folder is not exactly those files.
"""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from train.bundle import MANIFEST, sha256_file

SRC = Path(__file__).resolve().parent.parent  # the folder holding the project's packages (its rooms)
# every room of src/: a module the closure reaches in any of them ships (today features, rules and train)
PACKAGES = ("demo", "features", "rules", "engines", "train", "serve", "report", "app")
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
MANIFEST_KEY = "shipped_code"


def _module_file(module: str) -> Path | None:
    """The source file of a dotted module of our packages (None when it is not one of ours)."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = SRC.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """Dotted names imported by statements executed at import time (not inside functions/classes)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []) or [])
            elif isinstance(node, ast.ExceptHandler):
                visit(node.body)
    visit(tree.body)
    return found


def shipped_files() -> list[str]:
    """Paths (relative to ``src/``, posix) of the modules the model code needs at import time."""
    seen: set[Path] = set()
    todo = [MODEL_CODE]
    while todo:
        path = todo.pop()
        for module in _top_level_imports(path):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # a module's packages are imported first
                target = _module_file(".".join(parts[:i]))
                if target is not None and target not in seen:
                    seen.add(target)
                    todo.append(target)
    return sorted(p.relative_to(SRC).as_posix() for p in seen)


def stage(dest: str | Path) -> list[str]:
    """Copy the shipped modules into ``dest/<package>/...``; return the package folders (``code_paths``)."""
    dest = Path(dest)
    for rel in shipped_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SRC / rel, target)
    return [str(dest / name) for name in PACKAGES if (dest / name).is_dir()]


def file_hashes(root: str | Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (a staged code folder), by posix path relative to it."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def add_to_manifest(bundle: str | Path, hashes: dict[str, str]) -> None:
    """Record the shipped code's hashes in the bundle's manifest (before its digest is taken)."""
    path = Path(bundle) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest[MANIFEST_KEY] = dict(sorted(hashes.items()))
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def verify_shipped_code(code_dir: str | Path, manifest: dict, model_code_name: str) -> str | None:
    """Why the model's ``code/`` folder is not exactly the code its manifest lists (None when it is).

    ``code_dir`` holds the pyfunc code file (checked separately against the manifest's ``code``)
    and the shipped packages; nothing else may be there -- no ``.pyc`` either."""
    expected = manifest.get(MANIFEST_KEY) if isinstance(manifest, dict) else None
    if not isinstance(expected, dict) or not expected:
        return "its manifest lists no shipped code"
    code_dir = Path(code_dir)
    present = {p.relative_to(code_dir).as_posix() for p in code_dir.rglob("*") if p.is_file()} - {model_code_name}
    extra = sorted(present - set(expected))
    if extra:
        return f"it ships code its manifest does not list: {extra[:3]}"
    missing = sorted(set(expected) - present)
    if missing:
        return f"its shipped code is incomplete: {missing[:3]} missing"
    for rel, digest in sorted(expected.items()):
        if sha256_file(code_dir / rel) != digest:
            return f"its shipped code {rel} was changed after the model was written"
    return None
