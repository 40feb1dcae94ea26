"""``@command("train")``: a command's Hydra app -- its config, run folder and tracking store checked first (one
line, exit 2 or 4), its errors as exit codes (:mod:`app.exits`), its run folder (database passwords masked in
the config files Hydra writes there) and log. Only ``__main__`` modules import this."""
from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from features.errors import ConfigError, PipelineError

from app.exits import command_of, debugging, exits_cleanly, fail
from app.paths import CONF_DIR

# LightGBM's OpenMP threads spin while waiting by default, which slowed training ~100x whenever
# another process used a core (a shared scheduler box); passive waiting measured no slower alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("pql")

__all__ = ["CONF_DIR", "check_run_folder", "command", "mask_run_files", "log", "plain", "run_dir"]


def plain(node: Any) -> Any:
    """A config node as plain Python containers (resolved), for the typed config objects."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def run_dir() -> Path:
    """Hydra's output folder of this run (where summary.json and logs go)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def mask_run_files() -> list[Path]:
    """Mask database passwords (``postgresql://user:***@host/db``) in the config files Hydra wrote for this run
    (``.hydra/*.yaml``; a sweep's ``multirun.yaml``): Hydra keeps the command line as typed. Returns the files
    changed (none outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from features.data.sql import hide_passwords
    from features.io import write_text

    if not HydraConfig.initialized():
        return []
    hydra = HydraConfig.get()
    if OmegaConf.is_missing(hydra.runtime, "output_dir"):  # a config set by hand (a test), not a Hydra run
        return []
    files = sorted((Path(hydra.runtime.output_dir) / hydra.output_subdir).glob("*.yaml")) if hydra.output_subdir else []
    if hydra.mode == RunMode.MULTIRUN:
        files.append(Path(hydra.sweep.dir) / "multirun.yaml")
    changed = []
    for path in files:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if hide_passwords(text) != text:
            changed.append(write_text(hide_passwords(text), path))
    return changed


def check_run_folder(argv: list[str]) -> None:
    """Refuse, before Hydra runs, a run folder (``hydra.run.dir``; ``hydra.sweep.dir`` of a sweep) that cannot
    be made: under a file, or in a folder this process cannot write (ConfigError naming the key, exit 2)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from app.preflight import _NOT_A_RUN, hydra_arguments

    args = hydra_arguments(argv)
    if any(getattr(args, flag, None) for flag in _NOT_A_RUN):
        return
    key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
    try:
        given = [o.value() for o in OverridesParser.create().parse_overrides(args.overrides or [])
                 if o.key_or_group == key]
    except Exception:  # noqa: BLE001 - an override Hydra cannot read is reported by the preflight
        return
    folder = str(given[-1]) if given else ("multirun" if args.multirun else "outputs")
    known = Path(folder.split("${", 1)[0] or ".").expanduser().absolute()  # the part before Hydra's ${now:...}
    nearest = next(p for p in (known, *known.parents) if p.exists() or p == p.parent)
    why = ("a file, not a folder" if not nearest.is_dir() else
           "not writable" if not os.access(nearest, os.W_OK | os.X_OK) else None)
    if why is not None:
        raise ConfigError(f"{key}={folder}: the run folder cannot be made there: '{nearest}' is {why}; "
                          f"set {key} to a folder you can write")


def _store_checked(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """``task``, run once its tracking store (``tracking.uri``) is known to take this run's records: a read-only
    or foreign store fails in one line before any work, never after the outputs were written."""

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        uri = OmegaConf.select(cfg, "tracking.uri", default=None) if isinstance(cfg, DictConfig) else None
        if uri:
            from train.tracking import check_store

            check_store(str(uri))
        return task(cfg)

    return run


def command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[..., Any]]:
    """``@command("train")``: the Hydra app of a command, its config in ``CONF_DIR``.

    Before Hydra runs the app, the config is composed from the command line and checked
    (:func:`app.preflight.preflight`): a misspelled key, a wrong type, an unknown group option or a bad
    ``as_of`` is one line on stderr and exit 2, in a second or two, before the command's heavy modules
    load; so is a run folder that cannot be made (:func:`check_run_folder`). In the run, passwords are masked
    in Hydra's files (:func:`mask_run_files`) and the tracking store is checked (a read-only or foreign store:
    one line, exit 4). Errors then exit as :func:`app.exits.exits_cleanly` says, unexpected ones in one line
    too (exit 1). ``main(cfg)`` runs on a given config."""
    import hydra

    from app.preflight import preflight
    from app.schema import register

    register()

    def wrap(task: Callable[[DictConfig], Any]) -> Callable[..., Any]:
        name = command_of(task)
        app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=config_name)(
            exits_cleanly(_store_checked(task), unexpected_in_one_line=True, before=mask_run_files))

        @functools.wraps(task)
        def main(cfg: DictConfig | None = None) -> Any:
            if cfg is not None:
                return app(cfg)
            preflight(config_name, name)
            try:
                check_run_folder(sys.argv[1:])
            except PipelineError as exc:
                fail(exc, str(exc), exc.exit_code, debugging(overrides=sys.argv[1:]))
            return app()

        return main

    return wrap
