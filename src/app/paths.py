"""Where the commands find their config: ``conf/`` of this repository, or the copy a wheel ships."""
from __future__ import annotations

import os
from pathlib import Path


def conf_dir() -> str:
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


CONF_DIR = conf_dir()
