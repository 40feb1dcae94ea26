"""Errors become exit codes: a PipelineError is one line on stderr and its code; running out of memory
one line naming the stage and what to make smaller; a full disk one line naming the file (exit 4); anything
else one line too (exit 1) unless debugging."""
from __future__ import annotations

import errno
import functools
import logging
import os
import sys
import time
import traceback
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from features.errors import PipelineError

log = logging.getLogger("pql")

# What makes each command's work smaller, for the out-of-memory message.
_SMALLER = {
    "features": "build fewer windows or event types (features.windows, features.event_types), exclude accounts "
                "columns (features.exclude_columns) or score a smaller data source (data.demo.accounts)",
    "train": "train on fewer snapshots (snapshots.every_days=14), a shorter or smaller data source "
             "(data.demo.accounts, data.demo.days) or fewer windows (features.windows)",
    "serve": "score a smaller data source (data.demo.accounts) or fewer windows (features.windows)",
}
_ROOMS = ("demo", "features", "rules", "engines", "train", "serve", "report")  # where a stage can be


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    kind = type(exc)  # DuckDB's own (duckdb.OutOfMemoryException), recognised without importing duckdb
    return kind.__name__ == "OutOfMemoryException" and kind.__module__.lstrip("_").startswith("duckdb")


# A disk that cannot take a file is the environment's fault, not a bug: one line and exit 4 (like an output
# database or tracking store that cannot be written), naming the file when the error knows it.
_DISK_FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "read-only file system"}


def disk_fault_message(exc: BaseException) -> str | None:
    """One line for a full disk, an exceeded quota or a read-only file system (on this error or what caused
    it), naming the file when known; None for any other error."""
    seen: BaseException | None = exc
    while seen is not None and not (isinstance(seen, OSError) and seen.errno in _DISK_FULL):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    assert isinstance(seen, OSError)
    where = f"cannot write {seen.filename}" if seen.filename else "cannot write a file"
    return f"{where}: {_DISK_FULL[seen.errno]}; free some space or write elsewhere (hydra.run.dir, output)"


def _stage(exc: BaseException) -> str | None:
    """The innermost pipeline function the error passed through (``features.build.build_features``)."""
    stage, tb = None, exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] in _ROOMS and not module.endswith("__main__"):
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


def command_of(task: Callable[..., Any]) -> str:
    """``train`` for ``train.__main__.main``, also when it runs as ``python -m train`` (module ``__main__``)."""
    module = getattr(task, "__module__", "") or ""
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = getattr(spec, "name", "") or ""
    return module.split(".")[-2] if module.endswith(".__main__") and module.count(".") > 1 else module.split(".")[0]


def debugging(cfg: Any = None, overrides: list[str] | None = None) -> bool:
    """Tracebacks wanted: ``debug=true`` or ``HYDRA_FULL_ERROR=1``."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return True
    if isinstance(cfg, DictConfig):
        return OmegaConf.select(cfg, "debug", default=False) is True
    return any(o.lstrip("+~").replace(" ", "").lower() in ("debug=true", "debug=1", "debug=yes")
               for o in overrides or [])


def first_line(exc: BaseException) -> str:
    """The message of an exception on one line (at most 500 characters), or its type's name."""
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__


def fail(exc: BaseException, line: str, code: int, debug: bool) -> None:
    """Print ``error: <line>`` on stderr (the traceback first when debugging) and exit with ``code``."""
    if debug:
        traceback.print_exception(exc)
    print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


def exits_cleanly(task: Callable[[DictConfig], Any], unexpected_in_one_line: bool = False,
                  before: Callable[[], Any] | None = None) -> Callable[[DictConfig], Any]:
    """Run a command; a PipelineError becomes one line on stderr and its non-zero exit code; running out
    of memory (Python's MemoryError or DuckDB's) one line naming the stage and what to reduce, exit 1; a
    full disk (or quota, or read-only file system) one line naming the file, exit 4.

    A composed (Hydra) config is checked first (``app.checks.check_config``: values a type cannot refuse,
    ``as_of``, outputs), so a config mistake is exit 2 before any work. Any other error propagates, or with
    ``unexpected_in_one_line`` (the commands) becomes one line and exit 1. ``debug=true`` or
    ``HYDRA_FULL_ERROR=1`` prints the traceback too. ``before()`` runs first, under the same rules."""
    command = command_of(task)

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        started = time.perf_counter()
        debug = debugging(cfg)
        try:
            if before is not None:
                before()
            if isinstance(cfg, DictConfig):
                from app.checks import check_config

                check_config(cfg, command)
            return task(cfg)
        except PipelineError as exc:
            fail(exc, str(exc), exc.exit_code, debug)
        except Exception as exc:  # MemoryError is an Exception too
            if _out_of_memory(exc):
                fail(exc, out_of_memory_message(exc, command), 1, debug)
            disk = disk_fault_message(exc)
            if disk is not None:
                fail(exc, disk, 4, debug)
            if debug or not unexpected_in_one_line:
                raise
            fail(exc, f"unexpected {type(exc).__name__}: {first_line(exc)} "
                      f"(debug=true or HYDRA_FULL_ERROR=1 shows the traceback)", 1, False)
        finally:
            log.info("time taken: %.1f s", time.perf_counter() - started)

    return run
