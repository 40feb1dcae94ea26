"""What the three commands share at the edge: where the config lives, and turning errors into exit codes.

Only ``__main__`` modules import this; everything below them takes plain values.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from .errors import PipelineError

# LightGBM's OpenMP threads spin while waiting by default, which slowed training ~100x whenever
# another process used a core (a shared scheduler box); passive waiting measured no slower alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# conf/ at the repository root (the package is installed editable: `pip install -e .`);
# PQL_CONF_DIR points the commands at another copy of it.
CONF_DIR = os.environ.get("PQL_CONF_DIR") or str(Path(__file__).resolve().parents[2] / "conf")

log = logging.getLogger("pql")


def plain(node: Any) -> Any:
    """A config node as plain Python containers (resolved), for the typed config objects."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


# What makes each command's work smaller, for the out-of-memory message.
_SMALLER = {
    "features": "build fewer windows or event types (features.windows, features.events), exclude accounts "
                "columns (features.exclude_columns) or score a smaller data source (data.demo.accounts)",
    "train": "train on fewer snapshots (snapshots.every_days=14), a shorter or smaller data source "
             "(data.demo.accounts, data.demo.days) or fewer windows (features.windows)",
    "serve": "score a smaller data source (data.demo.accounts) or fewer windows (features.windows)",
}
_PACKAGES = ("features", "train", "serve")


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    kind = type(exc)  # DuckDB's own (duckdb.OutOfMemoryException), recognised without importing duckdb
    return kind.__name__ == "OutOfMemoryException" and kind.__module__.lstrip("_").startswith("duckdb")


def _stage(exc: BaseException) -> str | None:
    """The innermost pipeline function the error passed through (``features.build.build_features``)."""
    stage, tb = None, exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] in _PACKAGES and not module.endswith(("__main__", ".app")):
            stage = f"{module}.{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return stage


def out_of_memory_message(exc: BaseException, command: str) -> str:
    """One line: what ran out of memory, where, and the settings that make the work smaller."""
    stage = _stage(exc)
    where = f" in {stage}" if stage else ""
    what = "DuckDB ran out of memory" if not isinstance(exc, MemoryError) else "out of memory"
    detail = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
    smaller = _SMALLER.get(command, _SMALLER["train"])
    return (f"{what}{where}" + (f" ({detail[:200]})" if detail else "")
            + f"; to need less memory, {smaller}, or run on a machine with more memory")


def exits_cleanly(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Run a command; a PipelineError becomes one line on stderr and its non-zero exit code; running out
    of memory (Python's MemoryError or DuckDB's) one line naming the stage and what to reduce, exit 1."""
    command = (getattr(task, "__module__", "") or "").split(".")[0]

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        started = time.perf_counter()
        try:
            return task(cfg)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Exception as exc:  # MemoryError is an Exception too
            if not _out_of_memory(exc):
                raise
            print(f"error: {out_of_memory_message(exc, command)}", file=sys.stderr)
            sys.exit(1)
        finally:
            log.info("time taken: %.1f s", time.perf_counter() - started)

    return run


def run_dir() -> Path:
    """Hydra's output folder of this run (where summary.json and logs go)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)
