"""Every command in the ```bash blocks of README.md and of every docs/*.md runs as printed and exits 0.

Each command is its own test (the id names its file, line and module). A command runs from the
repository root, in a subprocess, with this interpreter (``python -m X`` and ``.venv/bin/python
-m X`` alike: the pages say to activate the venv), followed by Hydra overrides that only make the work
smaller or move its files into a temporary folder -- no hidden switches:

* all: ``progress=false hydra.run.dir=<tmp>/...``;
* ``train`` / ``serve``: ``tracking.uri=sqlite:///<tmp>/mlflow.db``, one store per block, so a block's
  ``serve`` finds the model its ``train`` registered (a ``serve`` test first runs the ``train`` commands
  above it in its block, when they have not run yet);
* on the demo world (no ``data.dir`` / ``data.duckdb`` / ``data=``): ``data.demo.accounts=400
  data.demo.days=180``;
* ``features`` / ``serve``: ``output=`` points into the temporary folder (same file name), or is
  added when the command writes to its default;
* ``output_dir=`` / ``scores_dir=`` (the batch job's kept scores and ``serve.realized`` reading them)
  point into the block's temporary folder, so the block's commands share them;
* ``--cfg`` / ``--help`` (printing the config): only the exit code is checked.

``mlflow models serve`` (docs/http.md) starts the scoring server in the background with the venv's
``bin`` first on ``PATH`` (as an activated venv has it), on a free port instead of the printed one, on
the block's tracking store (``MLFLOW_TRACKING_URI``); once it answers, each ```python block after it in
the same page runs as printed -- its port and the feature file the block wrote moved to the test's
own -- and must print the scores; then the server is stopped.

Skipped: the venv / pip setup steps of the two first-screen commands (``python3 -m venv .venv``,
``.venv/bin/pip install ...``) -- CI has already run exactly those to build the environment this
test runs in -- and ``python -m pytest``, which is CI's own test run (this file is part of it).
Blocks that are not ``bash`` (the diagram, YAML, cron, ``console`` for clusters, servers one browses
and benchmarks) are not commands to run. Any other kind of command fails here: support it in this
file, or don't print it in a ``bash`` block.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
PYTHONS = {"python", "python3", ".venv/bin/python", ".venv/bin/python3"}
MODULES = {"train", "serve", "features", "serve.realized"}
DEFAULT_OUTPUT = {"features": "features.parquet", "serve": "scores.parquet"}
DEMO_SHRINK = ["data.demo.accounts=400", "data.demo.days=180"]
SET_HERE = {"progress", "hydra.run.dir", "tracking.uri"}  # replaced by the test's own values
SHARED_DIRS = {"output_dir", "scores_dir"}  # folders a block's commands share: moved into the block's folder
INSPECT = {"--cfg", "-c", "--help", "-h", "--info", "-i"}  # print the config or the help: no run
SERVER_ENV = {"MLFLOW_TRACKING_URI"}  # the only environment a printed command may set (moved to the block's store)
SHELL = {"|", "||", ";", "&", ">", ">>", "<"}
BLOCK = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    page: str       # the file, relative to the repository root
    block: int      # index of the ```bash block in the page
    line: int       # line of the page where the command starts
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # NAME=VALUE assignments before the command
    offset: int = 0  # where its block ends in the page (the ```python blocks after it call its server)

    @property
    def kind(self) -> str:
        a = self.argv
        if a[0] in PYTHONS and a[1:3] == ("-m", "venv"):
            return "setup"
        if Path(a[0]).name.startswith("pip") and "install" in a:
            return "setup"
        if a[0] == "mlflow" and a[1:3] == ("models", "serve"):
            return "mlflow-serve"
        if a[0] in PYTHONS and len(a) > 2 and a[1] == "-m":
            if a[2] == "pytest":
                return "ci"
            if a[2] in MODULES:
                return a[2]
        return "unknown"

    @property
    def inspects(self) -> bool:
        """``--cfg job`` / ``--help``: prints the config, runs nothing."""
        return bool(INSPECT & set(self.argv))

    @property
    def id(self) -> str:
        what = {"setup": "venv" if "venv" in self.argv else "pip-install", "ci": "pytest"}.get(self.kind, self.kind)
        return f"{self.page}:L{self.line}-{what}{'-cfg' if self.inspects else ''}"


def page_commands(text: str, page: str = "README.md") -> list[Command]:
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
                    env = []
                    while part and ENV.match(part[0]):
                        env.append(tuple(part.pop(0).split("=", 1)))
                    out.append(Command(page, block, start, tuple(part), tuple(env), match.end()))
                    part = []
            logical, start = "", None
    return out


COMMANDS = [c for p in PAGES for c in page_commands(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]


def _key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def _relocate(value: str, folder: Path) -> str:
    """An output path or URL moved into ``folder`` (same file name)."""
    if value.startswith("sqlite:///"):
        return f"sqlite:///{folder / Path(value.removeprefix('sqlite:///')).name}"
    assert "://" not in value, f"output={value}: this test can only redirect files and SQLite URLs"
    return str(folder / Path(value).name)


def prepared(command: Command, folder: Path, store: Path) -> list[str]:
    """The argv to run: this interpreter, the page's arguments, and the shrinking/redirecting overrides."""
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


def written_output(command: Command, folder: Path) -> Path | None:
    """The file a features/serve command wrote, where the test moved it."""
    output = next((a.partition("=")[2] for a in prepared(command, folder, folder) if _key(a) == "output"), None)
    return Path(output) if output and "://" not in output and "{" not in output else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _printed_port(argv: tuple[str, ...]) -> str:
    for flag in ("--port", "-p"):
        if flag in argv:
            return argv[argv.index(flag) + 1]
    return "5000"  # mlflow models serve's default


class Runner:
    """Runs the pages' commands once each; one MLflow store per block."""

    def __init__(self, factory: pytest.TempPathFactory):
        self.factory = factory
        self.stores: dict[tuple[str, int], Path] = {}
        self.done: dict[Command, tuple[subprocess.CompletedProcess, Path]] = {}

    def store(self, command: Command) -> Path:
        key = (command.page, command.block)
        if key not in self.stores:
            self.stores[key] = self.factory.mktemp(f"block{len(self.stores)}")
        return self.stores[key]

    def earlier(self, command: Command, kinds: tuple[str, ...]) -> list[Command]:
        """The commands of ``kinds`` before ``command`` in its block (those earlier on its own line included)."""
        return [c for c in COMMANDS[:COMMANDS.index(command)]
                if (c.page, c.block) == (command.page, command.block) and c.kind in kinds and not c.inspects]

    def run(self, command: Command) -> tuple[subprocess.CompletedProcess, Path]:
        if command not in self.done:
            if command.kind.startswith("serve"):  # needs the model its block's train registered (and scores)
                for earlier in self.earlier(command, ("train", "serve")):  # whichever order the tests run in
                    self.check(earlier)
            folder = self.factory.mktemp(re.sub(r"[^\w.-]", "_", command.id))
            argv = prepared(command, folder, self.store(command))
            proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
            self.done[command] = (proc, folder)
        return self.done[command]

    def check(self, command: Command) -> Path:
        proc, folder = self.run(command)
        shown = " ".join(shlex.quote(a) for a in command.argv)
        assert proc.returncode == 0, (
            f"{command.page} line {command.line}: `{shown}` exited {proc.returncode}\n"
            f"stderr (end):\n{proc.stderr[-3000:]}\nstdout (end):\n{proc.stdout[-2000:]}")
        return folder

    def serve_http(self, command: Command) -> list[str]:
        """Start the printed ``mlflow models serve`` on the block's store, run the page's ```python calls
        against it, stop it; returns what each call printed."""
        files = {}  # file name as printed -> where the block's features/serve commands wrote it
        for earlier in self.earlier(command, ("train", "features", "serve")):
            folder = self.check(earlier)
            if earlier.kind in DEFAULT_OUTPUT and (path := written_output(earlier, folder)) is not None:
                files[path.name] = path
        unknown = {name for name, _ in command.env} - SERVER_ENV
        assert not unknown, f"{command.page} line {command.line}: environment {unknown} is not supported here"
        printed, port = _printed_port(command.argv), str(_free_port())
        argv = list(command.argv)
        if "--port" in argv or "-p" in argv:
            at = argv.index("--port") if "--port" in argv else argv.index("-p")
            argv[at + 1] = port
        else:
            argv += ["--port", port]
        assert "--env-manager" in argv and argv[argv.index("--env-manager") + 1] == "local", "serve from this venv"
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "MLFLOW_TRACKING_URI": f"sqlite:///{self.store(command) / 'mlflow.db'}"}
        folder = self.factory.mktemp("http")
        log = open(folder / "server.log", "w")
        server = subprocess.Popen([str(bin_dir / "mlflow"), *argv[1:]], cwd=folder, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_up(server, port, folder / "server.log")
            text = Path(ROOT / command.page).read_text(encoding="utf-8")
            calls = [m.group(1) for m in PYTHON_BLOCK.finditer(text, command.offset)]
            assert calls, f"{command.page}: no ```python call after the server started at line {command.line}"
            return [_call(code, printed, port, files, folder) for code in calls]
        finally:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the uvicorn it started (its own session)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            log.close()


def _wait_until_up(server: subprocess.Popen, port: str, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited {server.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the server did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _call(code: str, printed_port: str, port: str, files: dict[str, Path], folder: Path) -> str:
    """Run a page's ```python call as printed, with its port and feature file moved to the test's own."""
    assert f":{printed_port}/" in code, f"the call does not use the printed port {printed_port}"
    code = code.replace(f":{printed_port}/", f":{port}/")
    for name, path in files.items():
        code = code.replace(f'"{name}"', repr(str(path)))
    script = folder / "call.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the call failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory)


def test_pages_have_commands():
    kinds = [c.kind for c in COMMANDS]
    assert "train" in kinds and "serve" in kinds and "mlflow-serve" in kinds, kinds
    assert "unknown" not in kinds, [f"{c.page}:{c.line} {' '.join(c.argv)}" for c in COMMANDS if c.kind == "unknown"]
    # the first screen: exactly two commands, setup + demo run, setup + tests
    first_screen = README.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    assert len(BLOCK.findall(first_screen)) == 2


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.xdist_group(f"pages-{c.page}"))
                                     for c in COMMANDS], ids=[c.id for c in COMMANDS])
def test_page_command(command: Command, runner: Runner):
    if command.kind == "setup":
        pytest.skip("venv / pip setup: CI has already run exactly this to build the test environment")
    if command.kind == "ci":
        pytest.skip("python -m pytest is CI's own test run, of which this test is part")
    assert not SHELL & set(command.argv), f"{command.page} line {command.line}: shell syntax this test does not run"
    if command.kind == "mlflow-serve":
        printed = runner.serve_http(command)
        assert all("score" in out for out in printed), printed
        return
    assert command.kind in MODULES, f"{command.page} line {command.line}: no way to run `{' '.join(command.argv)}` here"
    assert not command.env, f"{command.page} line {command.line}: environment variables are not supported here"
    folder = runner.check(command)
    if command.inspects:
        return
    if command.kind == "train":
        assert (folder / "run" / "summary.json").is_file()
        assert (folder / "run" / "predictions.parquet").is_file()
    elif (output := written_output(command, folder)) is not None:
        assert output.exists(), output
