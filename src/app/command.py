"""``@command("train")``: a command's Hydra app -- its config checked first (one line, exit 2), its errors as
exit codes (:mod:`app.exits`), its run folder and log. Only ``__main__`` modules import this."""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from app.exits import command_of, exits_cleanly
from app.paths import CONF_DIR

# LightGBM's OpenMP threads spin while waiting by default, which slowed training ~100x whenever
# another process used a core (a shared scheduler box); passive waiting measured no slower alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("pql")

__all__ = ["CONF_DIR", "command", "log", "plain", "run_dir"]


def plain(node: Any) -> Any:
    """A config node as plain Python containers (resolved), for the typed config objects."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def run_dir() -> Path:
    """Hydra's output folder of this run (where summary.json and logs go)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[..., Any]]:
    """``@command("train")``: the Hydra app of a command, its config in ``CONF_DIR``.

    Before Hydra runs the app, the config is composed from the command line and checked
    (:func:`app.preflight.preflight`): a misspelled key, a wrong type, an unknown group option or a bad
    ``as_of`` is one line on stderr and exit 2, in a second or two, before the command's heavy modules
    load. Errors then exit as :func:`app.exits.exits_cleanly` says, unexpected ones in one line too
    (exit 1). ``main(cfg)`` runs on a given config."""
    import hydra

    from app.preflight import preflight
    from app.schema import register

    register()

    def wrap(task: Callable[[DictConfig], Any]) -> Callable[..., Any]:
        name = command_of(task)
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
