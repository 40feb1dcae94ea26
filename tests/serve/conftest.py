"""A real PostgreSQL server for the serve tests (``postgres``): Debian's postgresql package (initdb / pg_ctl),
run as the ``postgres`` OS user when the tests run as root, started once per test process.

Tests that take it are marked ``slow`` and put in the xdist group ``postgres``, so one worker starts it."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def bin_dir() -> Path | None:
    """The newest Debian PostgreSQL server binaries, or those on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Server:
    """A throw-away PostgreSQL cluster in a temporary folder: trust auth, localhost, its own port and socket."""

    def __init__(self, binaries: Path):
        self.bin = binaries
        self.root = Path(tempfile.mkdtemp(prefix="pql-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:  # postgres refuses to run as root: the cluster belongs to the postgres user
            shutil.chown(self.root, "postgres", "postgres")
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = self.free_port()

    @staticmethod
    def free_port() -> int:
        """A TCP port nothing listens on (now)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        return subprocess.run([*prefix, *argv], cwd=self.root, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        """initdb, start, and create the role ``pql`` owning the database ``crm``."""
        import psycopg

        init = self._run(str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres",
                         "--encoding=UTF8", "--no-locale", "--no-sync")
        assert init.returncode == 0, init.stderr
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                            "-w", "-t", "60", "start")
        assert started.returncode == 0, started.stderr + (self.log.read_text() if self.log.exists() else "")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute("CREATE ROLE pql LOGIN")
            con.execute("CREATE DATABASE crm OWNER pql")

    def dsn(self, db: str = "crm", user: str = "postgres") -> str:
        """A libpq URL of a database on this server."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    @property
    def url(self) -> str:
        """What a user writes in output= (no driver): serve picks psycopg."""
        return self.dsn("crm", "pql")

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """A running :class:`Server` (skipped without psycopg or the server binaries)."""
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed: pip install -e '.[postgres]'")
    binaries = bin_dir()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb or initdb on PATH): "
                    "apt-get install postgresql (.ci/run does)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    server = Server(binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def day_scores(day: str, score: float) -> "pd.DataFrame":
    """A day's scores table of two accounts: ``a`` at ``score`` (tier 1, flagged by rule ``power``), ``b`` at .1."""
    import pandas as pd

    return pd.DataFrame({"account_id": ["a", "b"], "as_of": pd.Timestamp(day).as_unit("us"), "score": [score, .1],
                         "pql_tier": pd.array([1, 2], dtype="Int64"), "rule_power": [True, False],
                         "reasons": ["x", "y"], "model_version": "1"})


def serve_day(history, day: str, score: float) -> "pd.DataFrame":
    """What serve does with a kept history (any output kind): read the previous run, compare, write the day's
    scores (:func:`day_scores`) and alerts together; the alerts."""
    import pandas as pd

    from serve.alerts import alerts

    as_of = pd.Timestamp(day)
    previous, when = history.previous(as_of)
    today = day_scores(day, score)
    changed = alerts(today, previous, history.settings, when)
    history.write(today, changed, as_of)
    return changed
