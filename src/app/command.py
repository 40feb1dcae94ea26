"""What the three commands share at the edge: where the config lives, and turning errors into exit codes.

Only ``__main__`` modules import this; everything below them takes plain values.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from features.errors import PipelineError

# LightGBM's OpenMP threads spin while waiting by default, which slowed training ~100x whenever
# another process used a core (a shared scheduler box); passive waiting measured no slower alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _conf_dir() -> str:
    """The config folder: ``PQL_CONF_DIR`` when set; else conf/ at the repository root (a source checkout
    or an editable install, ``pip install -e .``: users edit it there); else the copy the wheel ships as
    the package ``pql_conf``."""
    if os.environ.get("PQL_CONF_DIR"):
        return os.path.abspath(os.path.expanduser(os.environ["PQL_CONF_DIR"]))
    repo = Path(__file__).resolve().parents[2] / "conf"
    if (repo / "train.yaml").is_file():
        return str(repo)
    try:
        from importlib.resources import files

        return str(files("pql_conf"))
    except ModuleNotFoundError:
        return str(repo)


CONF_DIR = _conf_dir()

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
_PACKAGES = ("app", "demo", "features", "rules", "engines", "train", "serve", "report")


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
        if module.split(".")[0] in _PACKAGES and not module.endswith("__main__") and not module.startswith("app."):
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


def _command_of(task: Callable[..., Any]) -> str:
    """``train`` for ``train.__main__.main``, also when it runs as ``python -m train`` (module ``__main__``)."""
    module = getattr(task, "__module__", "") or ""
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = getattr(spec, "name", "") or ""
    return module.split(".")[0]


def _debug(cfg: Any = None, overrides: list[str] | None = None) -> bool:
    """Tracebacks wanted: ``debug=true`` or ``HYDRA_FULL_ERROR=1``."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return True
    if isinstance(cfg, DictConfig):
        return OmegaConf.select(cfg, "debug", default=False) is True
    return any(o.lstrip("+~").replace(" ", "").lower() in ("debug=true", "debug=1", "debug=yes")
               for o in overrides or [])


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__


def exits_cleanly(task: Callable[[DictConfig], Any], unexpected_in_one_line: bool = False
                  ) -> Callable[[DictConfig], Any]:
    """Run a command; a PipelineError becomes one line on stderr and its non-zero exit code; running out
    of memory (Python's MemoryError or DuckDB's) one line naming the stage and what to reduce, exit 1.

    A composed (Hydra) config is checked first (``app.checks.check_config``: unknown keys, wrong
    types, ``as_of``, outputs), so a config mistake is exit 2 before any work. Any other error propagates,
    or with ``unexpected_in_one_line`` (the commands) becomes one line and exit 1. ``debug=true`` or
    ``HYDRA_FULL_ERROR=1`` prints the traceback too."""
    command = _command_of(task)

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        started = time.perf_counter()
        debug = _debug(cfg)
        try:
            if isinstance(cfg, DictConfig):
                from app.checks import check_config

                check_config(cfg, command)
            return task(cfg)
        except PipelineError as exc:
            if debug:
                traceback.print_exc()
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Exception as exc:  # MemoryError is an Exception too
            if _out_of_memory(exc):
                if debug:
                    traceback.print_exc()
                print(f"error: {out_of_memory_message(exc, command)}", file=sys.stderr)
                sys.exit(1)
            if debug or not unexpected_in_one_line:
                raise
            print(f"error: unexpected {type(exc).__name__}: {_first_line(exc)} "
                  f"(debug=true or HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
            sys.exit(1)
        finally:
            log.info("time taken: %.1f s", time.perf_counter() - started)

    return run


def command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[..., Any]]:
    """``@command("train")``: the Hydra app of a command, its config in ``CONF_DIR``.

    Before Hydra runs the app, the config is composed from the command line and checked (``preflight``):
    a misspelled key, a wrong type, an unknown group option or a bad ``as_of`` is one line on stderr and
    exit 2, in a second or two, before the command's heavy modules load. Errors then exit as
    ``exits_cleanly`` says, unexpected ones in one line too (exit 1). ``main(cfg)`` runs on a given config."""
    import hydra

    def wrap(task: Callable[[DictConfig], Any]) -> Callable[..., Any]:
        name = _command_of(task)
        app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=config_name)(
            exits_cleanly(task, unexpected_in_one_line=True))

        @functools.wraps(task)
        def main(cfg: DictConfig | None = None) -> Any:
            if cfg is not None:
                return app(cfg)
            preflight(config_name, name)
            return app()

        return main

    return wrap


_NOT_A_RUN = ("help", "hydra_help", "cfg", "info", "shell_completion", "experimental_rerun", "resolve")
_MAX_SWEEP_JOBS = 200


def preflight(config_name: str, command: str | None = None, argv: list[str] | None = None) -> None:
    """Compose the config as ``hydra.main`` will (same flags, search path and overrides; each job of a
    ``--multirun`` sweep) and check it; a mistake is one line on stderr and exit 2.

    Only runs and sweeps are checked: ``--help``, ``--cfg``, ``--info`` and the like are left to Hydra
    as they are. A failure of the check itself (not a config mistake) is left to Hydra too."""
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if any(getattr(args, flag, None) for flag in _NOT_A_RUN):
        return
    overrides = list(args.overrides or [])
    try:
        for cfg in _compose_jobs(args, config_name, overrides):
            from app.checks import check_config

            check_config(cfg, command or config_name)
    except PipelineError as exc:
        _fail(exc, str(exc), exc.exit_code, _debug(overrides=overrides))
    except Exception as exc:  # noqa: BLE001 - Hydra's and OmegaConf's errors; anything else is Hydra's to report
        if not _is_config_error(exc):
            return
        _fail(exc, config_error_line(exc, args, config_name, overrides), 2, _debug(overrides=overrides))


def _fail(exc: BaseException, line: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


def _is_config_error(exc: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(exc, (HydraException, OmegaConfBaseException))


def _hydra_for(args: Any, config_name: str) -> Any:
    """Hydra set up as ``hydra.main`` sets it up (the caller clears GlobalHydra)."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.errors import SearchPathException

    config_path = args.config_path or CONF_DIR
    if not (os.path.isabs(config_path) or config_path.startswith("pkg://")):
        config_path = os.path.abspath(config_path)
    search_path = create_automatic_config_search_path(None, None, config_path)
    if args.config_dir is not None:
        extra = os.path.abspath(args.config_dir)
        if not os.path.isdir(extra):
            raise SearchPathException(f"Additional config directory '{extra}' not found")
        search_path.prepend(provider="command-line", path=f"file://{extra}", anchor=SearchPathQuery(provider="schema"))
    return Hydra.create_main_hydra2(task_name=args.config_name or config_name, config_search_path=search_path)


def _compose_jobs(args: Any, config_name: str, overrides: list[str]) -> list[DictConfig]:
    """The composed config of the run, or of each job of a sweep (at most ``_MAX_SWEEP_JOBS``)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    if GlobalHydra.instance().is_initialized():  # inside another Hydra app or a test: leave it to hydra.main
        return []
    jobs = [overrides]
    if args.multirun:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(overrides)  # a parse error is the user's
        try:
            jobs = BasicSweeper.split_arguments(parsed, None)[0][:_MAX_SWEEP_JOBS]
        except Exception:  # noqa: BLE001 - another sweeper's syntax: check what is not swept
            jobs = [[o.input_line for o in parsed if not o.is_sweep_override()]]
    hydra = _hydra_for(args, config_name)
    try:
        return [hydra.compose_config(config_name=args.config_name or config_name, overrides=list(job),
                                     run_mode=RunMode.RUN, with_log_configuration=False) for job in jobs]
    finally:
        GlobalHydra.instance().clear()


def config_error_line(exc: BaseException, args: Any, config_name: str, overrides: list[str]) -> str:
    """One line for a Hydra composition or OmegaConf error."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf import errors as oc_errors

    from app.checks import schema_error, unknown_key_message

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        if group:
            return f"config group '{group}' has no option '{option}'; options: {', '.join(sorted(exc.options))}"
    if isinstance(exc, OverrideParseException):
        lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "hydra.cc" not in line]
        bad = _unparseable(overrides)
        key, _, value = (bad or "key=value").partition("=")
        return (f"cannot read the override '{bad}': " if bad else "cannot read an override: ") + ": ".join(
            lines[:2]) + f"; quote a value with special characters, in the shell: '{key}=\"{value}\"'"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, (oc_errors.ConfigKeyError, oc_errors.ConfigAttributeError)):
        key = str(getattr(cause, "full_key", "") or "")
        if key:
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            return unknown_key_message(key, _known_keys(args, config_name, overrides, parent), parent)
    if isinstance(cause, oc_errors.ValidationError):
        return str(schema_error(cause, ""))
    lines = [line.strip() for line in str(exc).splitlines()
             if line.strip() and not line.strip().startswith(("Config search path", "provider=", "Set the environment"))]
    return " ".join(lines) or type(exc).__name__


def _unparseable(overrides: list[str]) -> str | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except Exception:  # noqa: BLE001
            return override
    return None


def _known_keys(args: Any, config_name: str, overrides: list[str], parent: str) -> list[str]:
    """The keys at ``parent`` of the config composed with the group choices alone (for suggestions)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    choices = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0] and "," not in o]
    try:
        hydra = _hydra_for(args, config_name)
        cfg = hydra.compose_config(config_name=args.config_name or config_name, overrides=choices,
                                   run_mode=RunMode.RUN, with_log_configuration=False)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return [str(k) for k in node.keys() if str(k) != "hydra"] if isinstance(node, DictConfig) else []
    except Exception:  # noqa: BLE001 - suggestions are a courtesy
        return []
    finally:
        GlobalHydra.instance().clear()


def run_dir() -> Path:
    """Hydra's output folder of this run (where summary.json and logs go)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)
