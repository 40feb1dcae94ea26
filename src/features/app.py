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


def exits_cleanly(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Run a command; a PipelineError becomes one line on stderr and its non-zero exit code."""

    @functools.wraps(task)
    def run(cfg: DictConfig) -> Any:
        started = time.perf_counter()
        try:
            return task(cfg)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
        finally:
            log.info("time taken: %.1f s", time.perf_counter() - started)

    return run


def run_dir() -> Path:
    """Hydra's output folder of this run (where summary.json and logs go)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)
