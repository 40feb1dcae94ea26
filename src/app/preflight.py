"""Compose and check a command's config before Hydra runs it: a mistake is one line and exit 2, in a
second or two, before the command's heavy modules load.

Hydra's public compose API (``initialize_config_dir`` + ``compose``) builds the same config ``hydra.main``
will: the same config folder (``--config-path``), an extra one (``--config-dir``, as ``hydra.searchpath``),
the same primary config (``--config-name``) and overrides; each job of a ``--multirun`` sweep (the basic
sweeper's grid, at most :data:`MAX_SWEEP_JOBS`). ``--help``, ``--cfg`` and the like are left to Hydra.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from app.exits import debugging, fail
from app.paths import CONF_DIR
from features.errors import PipelineError

MAX_SWEEP_JOBS = 200
_NOT_A_RUN = ("help", "hydra_help", "version", "cfg", "info", "shell_completion", "experimental_rerun", "resolve")


def hydra_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line as Hydra reads it (its documented flags; the rest are overrides)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("overrides", nargs="*")
    for flag, short in (("help", "-h"), ("hydra-help", None), ("version", None), ("resolve", None),
                        ("run", "-r"), ("multirun", "-m")):
        parser.add_argument(*(f"--{flag}",) + ((short,) if short else ()), action="store_true")
    for flag, short in (("cfg", "-c"), ("package", "-p"), ("config-path", "-cp"), ("config-name", "-cn"),
                        ("config-dir", "-cd"), ("experimental-rerun", None), ("shell-completion", "-sc")):
        parser.add_argument(*(f"--{flag}",) + ((short,) if short else ()), default=None)
    parser.add_argument("--info", "-i", nargs="?", const="all", default=None)
    args, _ = parser.parse_known_args(argv)
    return args


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job of a basic sweep: the grid of every swept key's values, in order.

    >>> sweep_jobs(["a=1,2", "b=x"])
    [['a=1', 'b=x'], ['a=2', 'b=x']]
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)  # a parse error is the user's
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            try:
                values = list(override.sweep_string_iterator())
            except Exception:  # noqa: BLE001 - another sweeper's syntax (ranges, intervals): check what is fixed
                continue
            choices.append([f"{override.get_key_element()}={value}" for value in values])
        else:
            choices.append([override.input_line])
    return [list(job) for job in itertools.islice(itertools.product(*choices), MAX_SWEEP_JOBS)]


def compose_config(config_name: str, overrides: list[str], config_path: str | None = None,
                   config_dir: str | None = None, hydra_config: bool = False) -> DictConfig:
    """The composed config, as ``hydra.main`` would compose it (Hydra's public compose API)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import SearchPathException

    from app.schema import register

    register()
    path = os.path.abspath(config_path or CONF_DIR)
    extra = list(overrides)
    if config_dir is not None:
        folder = os.path.abspath(config_dir)
        if not os.path.isdir(folder):
            raise SearchPathException(f"Additional config directory '{folder}' not found")
        extra.append(f"hydra.searchpath=[file://{folder}]")
    with initialize_config_dir(version_base="1.3", config_dir=path, job_name=config_name):
        return compose(config_name, overrides=extra, return_hydra_config=hydra_config)


def preflight(config_name: str, command: str | None = None, argv: list[str] | None = None) -> None:
    """Compose the config as ``hydra.main`` will (each job of a ``--multirun`` sweep) and check it; a mistake
    is one line on stderr and exit 2. Only runs and sweeps are checked; a failure of the check itself (not a
    config mistake) is left to Hydra."""
    from hydra.core.global_hydra import GlobalHydra

    args = hydra_arguments(sys.argv[1:] if argv is None else argv)
    if any(getattr(args, flag, None) for flag in _NOT_A_RUN) or GlobalHydra.instance().is_initialized():
        return
    overrides = list(args.overrides or [])
    debug = debugging(overrides=overrides)
    try:
        jobs = sweep_jobs(overrides) if args.multirun else [overrides]
        for job in jobs:
            cfg = compose_config(args.config_name or config_name, job, args.config_path, args.config_dir)
            from app.checks import check_config

            check_config(cfg, command or config_name)
    except PipelineError as exc:
        fail(exc, str(exc), exc.exit_code, debug)
    except Exception as exc:  # noqa: BLE001 - Hydra's and OmegaConf's errors; anything else is Hydra's to report
        if _is_config_error(exc):
            fail(exc, config_error_line(exc, args.config_name or config_name, overrides), 2, debug)
    finally:
        GlobalHydra.instance().clear()


def _is_config_error(exc: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(exc, (HydraException, OmegaConfBaseException))


def config_error_line(exc: BaseException, config_name: str, overrides: list[str]) -> str:
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
        key = _override_key(overrides, str(getattr(cause, "full_key", "") or ""))
        if key:
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            return unknown_key_message(key, _known_keys(config_name, overrides, parent), parent)
    if isinstance(cause, oc_errors.ValidationError):
        return str(schema_error(cause, ""))
    lines = [line.strip() for line in str(exc).splitlines()
             if line.strip() and not line.strip().startswith(("Config search path", "provider=", "Set the environment"))]
    return " ".join(lines) or type(exc).__name__


def _override_key(overrides: list[str], key: str) -> str:
    """The full key of the override an error names by a prefix (Hydra names the first missing node only)."""
    for override in overrides:
        name = override.split("=", 1)[0].lstrip("+~")
        if key and (name == key or name.startswith(key + ".")):
            return name
    return key


def _unparseable(overrides: list[str]) -> str | None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_overrides([override])
        except Exception:  # noqa: BLE001
            return override
    return None


def _known_keys(config_name: str, overrides: list[str], parent: str) -> list[str]:
    """The keys at ``parent`` of the config composed with the group choices alone (for suggestions)."""
    from hydra.core.global_hydra import GlobalHydra

    choices = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0] and "," not in o]
    try:
        GlobalHydra.instance().clear()
        cfg = compose_config(config_name, choices)
        node: Any = OmegaConf.select(cfg, parent) if parent else cfg
        return [str(k) for k in node.keys() if str(k) != "hydra"] if isinstance(node, DictConfig) else []
    except Exception:  # noqa: BLE001 - suggestions are a courtesy
        return []
    finally:
        GlobalHydra.instance().clear()
