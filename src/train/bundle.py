"""The model bundle's integrity: one folder of plain files, its manifest and their hashes.

``manifest.json`` holds the sha256 of every other file of the bundle, and of the pyfunc code file the
bundle is logged with. Loading checks before it parses anything: every file the manifest lists is there
with its hash and nothing else is (a truncated or edited file never reaches LightGBM, whose parser can abort
the process). Any failure is a :class:`BundleError`: one line, exit code 4.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from features.errors import PipelineError

MANIFEST = "manifest.json"


class BundleError(PipelineError):
    """A model bundle that is not exactly what this pipeline wrote: damaged, edited or incomplete (exit 4)."""

    exit_code = 4


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and its first 300 characters."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def read_json(folder: Path, name: str) -> Any:
    """A JSON file of the bundle, parsed; a missing or broken file is a :class:`BundleError`."""
    try:
        return json.loads((folder / name).read_text())
    except FileNotFoundError:
        raise BundleError(f"model bundle {folder}: {name} is missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"model bundle {folder}: {name} is not valid JSON ({one_line(exc)})") from None


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundle_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                  and p.name != MANIFEST)


def write_manifest(folder: str | Path, code_file: str | Path | None = None) -> str:
    """Write ``manifest.json`` (sha256 of every bundle file, and of ``code_file``); return its digest."""
    folder = Path(folder)
    manifest = {"files": {name: sha256_file(folder / name) for name in _bundle_files(folder)}}
    if code_file is not None:
        manifest["code"] = {Path(code_file).name: sha256_file(code_file)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return bundle_digest(folder)


def bundle_digest(folder: str | Path) -> str:
    """The bundle's content hash: the sha256 of its manifest (which hashes every other file)."""
    return sha256_file(Path(folder) / MANIFEST)


def verify_bundle(folder: str | Path, code_file: str | Path | None = None, digest: str | None = None) -> None:
    """Every file the manifest lists is present and unchanged, nothing else is there; ``code_file``
    (when given) is the code the manifest names; ``digest`` (when given) is the manifest's own hash."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise BundleError(f"model bundle {folder} has no {MANIFEST}: it was not written by this pipeline "
                          f"(or before bundles carried one); retrain with `python -m train`")
    if digest is not None and bundle_digest(folder) != digest:
        raise BundleError(f"model bundle {folder}: its content hash does not match the one recorded at "
                          f"registration; refusing to load it")
    manifest = read_json(folder, MANIFEST)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not files:
        raise BundleError(f"model bundle {folder}: {MANIFEST} lists no files")
    extra = sorted(set(_bundle_files(folder)) - set(files))
    if extra:
        raise BundleError(f"model bundle {folder} holds files its manifest does not list: {extra[:5]}")
    for name, expected in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            raise BundleError(f"model bundle {folder}: {name} is missing")
        if sha256_file(path) != expected:
            raise BundleError(f"model bundle {folder}: {name} was changed or damaged after it was written "
                              f"(its sha256 differs from the manifest's)")
    if code_file is not None:
        _verify_code(folder, manifest, Path(code_file))


def _verify_code(folder: Path, manifest: dict, code_file: Path) -> None:
    """The pyfunc code file is the one the manifest names, unchanged."""
    expected = (manifest.get("code") or {}).get(code_file.name)
    if expected is None:
        raise BundleError(f"model bundle {folder}: its manifest records no hash for {code_file.name}")
    if not code_file.is_file() or sha256_file(code_file) != expected:
        raise BundleError(f"model code {code_file} was changed after the model was written "
                          f"(its sha256 differs from the bundle manifest's); refusing to run it")


def check_names(what: str, own: list[str], features: list[str], normalise=str) -> None:
    """The model's own feature names are the spec's, in the same order (no swaps, gaps or extras): a
    swapped name would silently move values between features. ValueError when not."""
    expected = [normalise(f) for f in features]
    if own == expected:
        return
    if len(own) != len(expected):
        raise ValueError(f"{what} has {len(own)} features but the feature spec names {len(expected)}")
    wrong = [(i, o, e) for i, (o, e) in enumerate(zip(own, expected)) if o != e]
    i, o, e = wrong[0]
    raise ValueError(f"the feature spec does not match {what}: {len(wrong)} feature name(s) differ, "
                     f"e.g. position {i} is '{e}' in the spec and '{o}' in the model")
