"""Every command in README.md's ```bash blocks runs as printed and exits 0.

Each command is its own test (the id names its README line and module). A command runs from the
repository root, in a subprocess, with this interpreter (``python -m X`` and ``.venv/bin/python
-m X`` alike), followed by Hydra overrides that only make the work smaller or move its files
into a temporary folder -- no hidden switches:

* all: ``progress=false hydra.run.dir=<tmp>/...``;
* ``train`` / ``serve``: ``tracking.uri=sqlite:///<tmp>/mlflow.db``, one store per README block,
  so a block's ``serve`` finds the model its ``train`` registered (a ``serve`` test first runs
  the ``train`` commands above it in its block, when they have not run yet);
* on the demo world (no ``data.dir`` / ``data.duckdb`` / ``data=``): ``data.demo.accounts=400
  data.demo.days=180``;
* ``features`` / ``serve``: ``output=`` points into the temporary folder (same file name), or is
  added when the command writes to its default;
* ``output_dir=`` / ``scores_dir=`` (the batch job's kept scores and ``serve.realized`` reading them)
  point into the block's temporary folder, so the block's commands share them.

Skipped: the venv / pip setup steps of the two first-screen commands (``python3 -m venv .venv``,
``.venv/bin/pip install ...``) -- CI has already run exactly those to build the environment this
test runs in -- and ``python -m pytest``, which is CI's own test run (this file is part of it).
Blocks that are not ``bash`` (the diagram, YAML, cron) are not commands to run. Any other kind of
command fails here: support it in this file, or don't print it in the README.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYTHONS = {"python", "python3", ".venv/bin/python", ".venv/bin/python3"}
MODULES = {"train", "serve", "features", "serve.realized"}
DEFAULT_OUTPUT = {"features": "features.parquet", "serve": "scores.parquet"}
DEMO_SHRINK = ["data.demo.accounts=400", "data.demo.days=180"]
SET_HERE = {"progress", "hydra.run.dir", "tracking.uri"}  # replaced by the test's own values
SHARED_DIRS = {"output_dir", "scores_dir"}  # folders a block's commands share: moved into the block's folder
SHELL = {"|", "||", ";", "&", ">", ">>", "<"}
BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Command:
    block: int      # index of the ```bash block in the README
    line: int       # README line where the command starts
    argv: tuple[str, ...]

    @property
    def kind(self) -> str:
        a = self.argv
        if a[0] in PYTHONS and a[1:3] == ("-m", "venv"):
            return "setup"
        if Path(a[0]).name.startswith("pip") and "install" in a:
            return "setup"
        if a[0] in PYTHONS and len(a) > 2 and a[1] == "-m":
            if a[2] == "pytest":
                return "ci"
            if a[2] in MODULES:
                return a[2]
        return "unknown"

    @property
    def id(self) -> str:
        what = {"setup": "venv" if "venv" in self.argv else "pip-install", "ci": "pytest"}.get(self.kind, self.kind)
        return f"L{self.line}-{what}"


def readme_commands(text: str) -> list[Command]:
    """The commands of every ```bash block: ``\\`` continuations joined, ``&&`` chains split."""
    out = []
    for block, match in enumerate(BLOCK.finditer(text)):
        first_line = text.count("\n", 0, match.start(1)) + 1
        logical, start = "", None
        for offset, raw in enumerate(match.group(1).splitlines()):
            start = first_line + offset if start is None else start
            if raw.rstrip().endswith("\\"):
                logical += raw.rstrip()[:-1] + " "
                continue
            logical += raw
            tokens = shlex.split(logical, comments=True)
            part: list[str] = []
            for token in [*tokens, "&&"]:
                if token != "&&":
                    part.append(token)
                elif part:
                    out.append(Command(block, start, tuple(part)))
                    part = []
            logical, start = "", None
    return out


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def _key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def _relocate(value: str, folder: Path) -> str:
    """An output path or URL moved into ``folder`` (same file name)."""
    if value.startswith("sqlite:///"):
        return f"sqlite:///{folder / Path(value.removeprefix('sqlite:///')).name}"
    assert "://" not in value, f"output={value}: this test can only redirect files and SQLite URLs"
    return str(folder / Path(value).name)


def prepared(command: Command, folder: Path, store: Path) -> list[str]:
    """The argv to run: this interpreter, the README's arguments, and the shrinking/redirecting overrides."""
    module = command.kind
    args = []
    for arg in command.argv[3:]:
        if _key(arg) in SET_HERE:
            continue
        if module in DEFAULT_OUTPUT and _key(arg) in ("output", "spec_output"):
            key, _, value = arg.partition("=")
            arg = f"{key}={_relocate(value, folder)}"
        elif _key(arg) in SHARED_DIRS:
            key, _, value = arg.partition("=")
            arg = f"{key}={_relocate(value, store)}"
        args.append(arg)
    keys = {_key(a) for a in args}
    extra = ["progress=false", f"hydra.run.dir={folder / 'run'}"]
    if module in ("train", "serve", "serve.realized"):
        extra.append(f"tracking.uri=sqlite:///{store / 'mlflow.db'}")
    if not keys & {"data", "data.dir", "data.duckdb"}:
        extra += DEMO_SHRINK
    if module in DEFAULT_OUTPUT and not keys & {"output", "output_dir"}:
        extra.append(f"output={folder / DEFAULT_OUTPUT[module]}")
    return [sys.executable, "-m", module, *args, *extra]


class Runner:
    """Runs README commands once each; one MLflow store per README block."""

    def __init__(self, factory: pytest.TempPathFactory):
        self.factory = factory
        self.stores: dict[int, Path] = {}
        self.done: dict[Command, tuple[subprocess.CompletedProcess, Path]] = {}

    def run(self, command: Command) -> tuple[subprocess.CompletedProcess, Path]:
        if command not in self.done:
            if command.kind.startswith("serve"):  # needs the model its block's train registered (and scores)
                # every train/serve before it in its block, including those earlier on its own line
                # (`... -m train && ... -m serve`): whichever order the tests run in
                for earlier in COMMANDS[:COMMANDS.index(command)]:
                    if earlier.block == command.block and earlier.kind in ("train", "serve"):
                        self.check(earlier)
            store = self.stores.setdefault(command.block, self.factory.mktemp(f"block{command.block}"))
            folder = self.factory.mktemp(command.id)
            argv = prepared(command, folder, store)
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
            self.done[command] = (proc, folder)
        return self.done[command]

    def check(self, command: Command) -> Path:
        proc, folder = self.run(command)
        shown = " ".join(shlex.quote(a) for a in command.argv)
        assert proc.returncode == 0, (
            f"README line {command.line}: `{shown}` exited {proc.returncode}\n"
            f"stderr (end):\n{proc.stderr[-3000:]}\nstdout (end):\n{proc.stdout[-2000:]}")
        return folder


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory)


def test_readme_has_commands():
    kinds = [c.kind for c in COMMANDS]
    assert "train" in kinds and "serve" in kinds, kinds
    assert "unknown" not in kinds, [" ".join(c.argv) for c in COMMANDS if c.kind == "unknown"]
    # the first screen: exactly two commands, setup + demo run, setup + tests
    first_screen = README.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    assert len(BLOCK.findall(first_screen)) == 2


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command(command: Command, runner: Runner):
    if command.kind == "setup":
        pytest.skip("venv / pip setup: CI has already run exactly this to build the test environment")
    if command.kind == "ci":
        pytest.skip("python -m pytest is CI's own test run, of which this test is part")
    assert command.kind in MODULES, f"README line {command.line}: no way to run `{' '.join(command.argv)}` here"
    assert not SHELL & set(command.argv), f"README line {command.line}: shell syntax this test does not run"
    folder = runner.check(command)
    if command.kind == "train":
        assert (folder / "run" / "summary.json").is_file()
        assert (folder / "run" / "predictions.parquet").is_file()
    else:
        output = next((a.partition("=")[2] for a in prepared(command, folder, folder) if _key(a) == "output"), None)
        if output and "://" not in output and "{" not in output:
            assert Path(output).exists(), output
