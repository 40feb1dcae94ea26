"""Shared helpers of the benchmark scripts (not a test suite: no assertions, no pytest).

* ``ensure_world`` generates a demo world once into ``benchmarks/.cache/<params>/`` (in a
  subprocess, so the generator's memory never counts towards a measurement);
* ``run_worker`` runs the measured part of a script in a fresh process (``--worker JSON``) and
  returns what it measured, plus the child's own peak RSS from ``os.wait4``;
* ``Stages`` times stages inside the worker and records the process peak RSS after each one;
* ``print_table`` prints stage, seconds, throughput and peak RSS.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# PQL_BENCH_CACHE: where generated worlds live (e.g. /tmp/pql_bench, to keep 20 M-event tables out of the checkout)
CACHE = Path(os.environ.get("PQL_BENCH_CACHE") or BENCH_DIR / ".cache")
MiB = 1024 * 1024


# ----------------------------------------------------------------------------------------------
# Memory and time
# ----------------------------------------------------------------------------------------------

def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Resident set size of this process now."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MiB
    except OSError:
        return float("nan")


class Stages:
    """Stage timings of a worker: seconds, a row count for the throughput, peak RSS after the stage."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}

    @contextmanager
    def stage(self, name: str, count: int | None = None, unit: str = "rows") -> Iterator[dict[str, Any]]:
        """Time a block; set ``rec['count']`` inside it when the count is only known afterwards."""
        rec: dict[str, Any] = {"stage": name, "count": count, "unit": unit}
        started = time.perf_counter()
        yield rec
        rec["seconds"] = time.perf_counter() - started
        rec["peak_rss_mib"] = peak_rss_mib()
        rec["rss_mib"] = current_rss_mib()
        self.rows.append(rec)

    def result(self) -> dict[str, Any]:
        return {"stages": self.rows, "info": self.info, "peak_rss_mib": peak_rss_mib()}


class Breakdown:
    """Exclusive time per label of patched functions (nested calls are charged to the innermost).

    Used to split one call (``run_training``) into its parts without touching src/: the benchmark
    wraps the functions the pipeline calls, in the worker process only.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.rows: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self._stack: list[list[float]] = []

    def wrap(self, fn, label: str, count=None):
        import functools

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._stack.append([0.0])
            started = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                children = self._stack.pop()[0]
                if self._stack:
                    self._stack[-1][0] += elapsed
                self.seconds[label] = self.seconds.get(label, 0.0) + elapsed - children
                self.calls[label] = self.calls.get(label, 0) + 1
                self.peak[label] = peak_rss_mib()
            if count is not None:
                self.rows[label] = self.rows.get(label, 0) + int(count(args, kwargs, out))
            return out

        return timed

    def patch(self, owner, attr: str, label: str, count=None) -> None:
        """Wrap ``owner.attr`` (a module function, method, classmethod or staticmethod)."""
        import inspect

        raw = inspect.getattr_static(owner, attr)
        if isinstance(raw, (classmethod, staticmethod)):
            setattr(owner, attr, type(raw)(self.wrap(raw.__func__, label, count)))
        else:
            setattr(owner, attr, self.wrap(raw, label, count))


# ----------------------------------------------------------------------------------------------
# Fresh processes
# ----------------------------------------------------------------------------------------------

def worker_main(task) -> None:
    """In the worker: run ``task(params) -> dict`` and print its result as the last stdout line."""
    params = json.loads(sys.argv[sys.argv.index("--worker") + 1])
    result = task(params)
    sys.stdout.flush()
    print("RESULT " + json.dumps(result, default=str), flush=True)


def run_worker(script: str | Path, params: dict[str, Any], profile: str | None = None) -> dict[str, Any]:
    """Run ``script --worker PARAMS`` in a fresh interpreter; its result, plus its peak RSS from wait4.

    ``profile``: a path; the worker runs under cProfile and writes its stats there.
    """
    cmd = [sys.executable]
    if profile:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += [str(script), "--worker", json.dumps(params)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
        else:
            sys.stdout.write(line)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"worker {script} failed with exit code {proc.returncode}")
    result["child_maxrss_mib"] = usage.ru_maxrss / 1024  # this child only (not the generator)
    result["child_cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


# ----------------------------------------------------------------------------------------------
# The cached demo world
# ----------------------------------------------------------------------------------------------

def world_key(accounts: int, days: int, events_per_account: float, seed: int, start: str,
              chunk: int | None = None) -> str:
    key = f"a{accounts}-d{days}-e{events_per_account:g}-s{seed}-{start}"
    return key + (f"-c{chunk}" if chunk and chunk < accounts else "")


def ensure_world(accounts: int, days: int, events_per_account: float, seed: int = 7, start: str = "2024-01-01",
                 chunk: int | None = None) -> Path:
    """The folder of a demo world's Parquet tables, generated on first use.

    ``chunk``: generate the world as independent demo worlds of at most ``chunk`` accounts each
    (seeds ``seed``, ``seed + 1``, ...; account ids prefixed ``c<k>_``), written as Parquet parts
    ``<table>/part-<k>.parquet``. The generator keeps (accounts x days) latent arrays in memory,
    so a million accounts at once would need well over 10 GiB; chunks bound that.
    """
    folder = CACHE / world_key(accounts, days, events_per_account, seed, start, chunk)
    if (folder / "meta.json").exists():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    began = time.perf_counter()
    sizes = [accounts] if not chunk or chunk >= accounts else \
        [min(chunk, accounts - i) for i in range(0, accounts, chunk)]
    print(f"generating demo world {folder.name} ({len(sizes)} part{'s' if len(sizes) > 1 else ''}) "
          f"into {folder} (once; cached) ...", flush=True)
    peak = 0.0
    for k, size in enumerate(sizes):
        params = {"out": str(tmp), "accounts": size, "days": days, "events_per_account": events_per_account,
                  "seed": seed + k, "start": start, "part": k if len(sizes) > 1 else None}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--generate", json.dumps(params)]
        proc = subprocess.Popen(cmd, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"generating the demo world failed (part {k})")
        peak = max(peak, usage.ru_maxrss / 1024)
    counts: dict[str, int] = {}
    import pyarrow.parquet as pq

    for name in ("accounts", "events", "conversions", "touches"):
        files = [tmp / f"{name}.parquet"] if (tmp / f"{name}.parquet").exists() else sorted((tmp / name).glob("*.parquet"))
        counts[name] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    meta = {"accounts": accounts, "days": days, "events_per_account": events_per_account, "seed": seed,
            "start": start, "parts": len(sizes), "rows": counts,
            "generation_seconds": round(time.perf_counter() - began, 1), "generator_peak_rss_mib": round(peak)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    print(f"generated in {meta['generation_seconds']} s (generator peak RSS {peak:,.0f} MiB): "
          + ", ".join(f"{n} {c:,}" for n, c in counts.items()), flush=True)
    return folder


def world_parser(description: str):
    """An argument parser with the benchmark world's size (accounts, days, events per account)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--events-per-account", type=float, default=200.0)
    parser.add_argument("--chunk", type=int, default=None,
                        help="generate the world in parts of this many accounts (e.g. 100000 for 500,000 accounts)")
    return parser


def code_version() -> str:
    """The commit of the code being measured (and whether src/ has uncommitted changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in src/" if dirty else "")


def machine() -> str:
    """CPUs, load average and code version: the context a figure needs."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}; code {code_version()}"


def world_meta(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "meta.json").read_text())


def _generate(params: dict[str, Any]) -> None:
    """Subprocess: generate one world (or one part of a chunked world) and write its tables."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from demo import DemoConfig, generate_demo

    world = generate_demo(DemoConfig(accounts=params["accounts"], days=params["days"], start=params["start"],
                                     events_per_account=params["events_per_account"], seed=params["seed"]))
    out, part = Path(params["out"]), params["part"]
    for name in ("accounts", "events", "conversions", "touches"):
        frame = getattr(world, name)
        if part is None:
            frame.to_parquet(out / f"{name}.parquet", index=False)
            continue
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for col in ("account_id", "user_id"):  # ids unique across parts
            if col in table.column_names:
                i = table.column_names.index(col)
                kind = table[col].type
                table = table.set_column(i, col, pc.binary_join_element_wise(
                    pa.scalar(f"c{part}", kind), table[col], pa.scalar("_", kind)))
        (out / name).mkdir(exist_ok=True)
        pq.write_table(table, out / name / f"part-{part:03d}.parquet")
    del world


# ----------------------------------------------------------------------------------------------
# Configuration and output
# ----------------------------------------------------------------------------------------------

def default_feature_config():
    """The feature config a data folder gets by default (``FeatureConfig()``: no key events, no plan limits --
    a folder brings none, even one the demo generator wrote)."""
    from features.config import FeatureConfig

    return FeatureConfig()


def mondays_before(end_us: int, n: int):
    """The ``n`` newest Mondays 00:00 UTC at or before the instant ``end_us`` (oldest first)."""
    import pandas as pd

    last = pd.Timestamp(end_us, unit="us").floor("D")
    last -= pd.Timedelta(days=last.weekday())
    return [last - pd.Timedelta(weeks=i) for i in range(n)][::-1]


def _fmt_rate(rec: dict[str, Any]) -> str:
    count, secs = rec.get("count"), rec.get("seconds")
    if not count or not secs:
        return ""
    rate = count / secs
    text = f"{rate / 1e6:,.2f} M" if rate >= 1e6 else f"{rate / 1e3:,.1f} k" if rate >= 1e3 else f"{rate:,.0f} "
    return f"{text}{rec.get('unit', 'rows')}/s"


def print_table(title: str, rows: list[dict[str, Any]], note: str | None = None) -> None:
    """stage | seconds | count | throughput | peak RSS MiB (the process peak so far)."""
    head = ("stage", "seconds", "count", "throughput", "peak RSS MiB")
    body = []
    for r in rows:
        count = f"{r['count']:,} {r.get('unit', 'rows')}" if r.get("count") else ""
        peak = f"{r['peak_rss_mib']:,.0f}" if r.get("peak_rss_mib") is not None else ""
        body.append((r["stage"], f"{r['seconds']:.2f}", count, _fmt_rate(r), peak))
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(f"\n{title}")
    print(line(head))
    print("|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
    for b in body:
        print(line(b))
    if note:
        print(note)


if __name__ == "__main__" and "--generate" in sys.argv:
    _generate(json.loads(sys.argv[sys.argv.index("--generate") + 1]))


def profile(script: str | Path, params: dict[str, Any], name: str, top: int = 35) -> None:
    """Run the measured process once more under cProfile and print its top functions."""
    import pstats

    out = CACHE / f"{name}.prof"
    print(f"\nprofiling the measured process (cProfile adds overhead) -> {out}")
    run_worker(script, params, profile=str(out))
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(top)
    pstats.Stats(str(out)).sort_stats("tottime").print_stats(15)


def _staged(folder: Path, out: Path) -> tuple[Path, list[Path]]:
    """A fresh ``<out>.tmp`` folder holding symlinks to every table of ``folder`` but its events (an empty
    ``events/`` for the caller to fill), and the world's event Parquet parts: a derived world is built there and
    renamed to ``out`` when whole."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "events").mkdir(parents=True)
    for entry in folder.iterdir():
        if entry.name not in ("events.parquet", "events", "meta.json"):
            (tmp / entry.name).symlink_to(entry.resolve())
    single = folder / "events.parquet"
    return tmp, [single] if single.exists() else sorted((folder / "events").glob("*.parquet"))


def with_duplicates(folder: Path, n: int, seed: int = 11) -> Path:
    """A copy of a world (symlinks) whose events carry ``n`` extra exact copies of random events.

    The copies go into a second Parquet part (``events/part-dup.parquet``), so the original file is
    read unchanged; validation must find and set aside exactly ``n`` rows (the issue's table had
    1,281 exact duplicates in 20 M events).
    """
    import numpy as np
    import pyarrow.parquet as pq

    folder = Path(folder)
    out = folder.with_name(f"{folder.name}-dup{n}")
    if (out / "meta.json").exists() or n <= 0:
        return out if n > 0 else folder
    tmp, parts = _staged(folder, out)
    for k, part in enumerate(parts):
        (tmp / "events" / f"part-{k:03d}.parquet").symlink_to(part.resolve())
    first = pq.ParquetFile(parts[0])
    rows = first.metadata.num_rows
    pick = np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))
    table = first.read().take(pick)
    pq.write_table(table, tmp / "events" / "part-dup.parquet")
    meta = world_meta(folder)
    meta["rows"]["events"] += n
    meta["duplicates"] = n
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def with_copies(folder: Path, copies: int) -> Path:
    """A world ``copies`` times as long (``<world>-x<copies>/``): the same accounts, conversions and touches
    (symlinks), and ``copies`` copies of its events, copy ``k``'s timestamps ``k`` seconds later (so no row is an
    exact duplicate of another: nothing is set aside). Each account then has ``copies`` times its events, and a
    feature table has the world's rows. Copy 0 is the original parts (symlinks); the others are written a row group
    at a time with the original's schema, so building 1 B events takes minutes and little memory,
    where the demo generator would take hours."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = Path(folder)
    out = folder.with_name(f"{folder.name}-x{copies}")
    if (out / "meta.json").exists() or copies <= 1:
        return out if copies > 1 else folder
    tmp, parts = _staged(folder, out)
    began = time.perf_counter()
    for k in range(copies):
        for i, part in enumerate(parts):
            target = tmp / "events" / f"part-{k:03d}-{i:03d}.parquet"
            if k == 0:
                target.symlink_to(part.resolve())
                continue
            with pq.ParquetFile(part) as reader, \
                    pq.ParquetWriter(target, reader.schema_arrow) as writer:
                for g in range(reader.num_row_groups):
                    group = reader.read_row_group(g)
                    at = group.schema.get_field_index("timestamp")
                    shifted = pc.add(group["timestamp"], pa.scalar(k * 1_000_000, pa.duration("us")))
                    writer.write_table(group.set_column(at, "timestamp", shifted.cast(group.schema.field(at).type)))
        print(f"copy {k + 1}/{copies} of the events written ({time.perf_counter() - began:.0f} s)", flush=True)
    meta = world_meta(folder)
    meta["rows"]["events"] *= copies
    meta["copies"] = copies
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def load_average() -> str:
    """The 1-minute load average now (the machine may be shared)."""
    return f"{os.getloadavg()[0]:.2f}"


def load_plan_build(st: "Stages", folder: str, snapshots: int):
    """A world folder loaded, planned and built at its newest ``snapshots`` Mondays, each step a stage of ``st``:
    (load report, spec, feature table)."""
    with st.stage("imports"):
        from features.build import build_features
        from features.config import DataConfig
        from features.data.load import load_tables
        from features.plan import plan_features
    with st.stage("load_tables + validation"):
        tables, report = load_tables(DataConfig(dir=folder))
    as_of = mondays_before(tables.data_end_us, snapshots)
    with st.stage("plan_features"):
        spec = plan_features(tables, as_of[-1], default_feature_config())
    with st.stage("build_features"):
        frame = build_features(tables, as_of, spec)
    return report, spec, frame


def entry(worker, main) -> None:
    """A benchmark script's entry point: a worker process (``--worker``) runs ``worker``, else ``main``."""
    if "--worker" in sys.argv:
        sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))
        worker_main(worker)
    else:
        main()
