"""The wheel is a library: installed into a fresh virtual environment it carries its config and runs
from any folder (``python -m features`` and the ``pql-features`` console script)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # builds the wheel and a fresh venv

REPO = Path(__file__).resolve().parents[1]


def _can_build_offline() -> bool:
    """setuptools builds wheels itself from 70.1 on, before that with the `wheel` package."""
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"  # a copy: the build leaves build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("src", "conf"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    isolation = [] if _can_build_offline() else ["--use-pep517"]  # else pip fetches the build backend
    flags = ["--no-build-isolation"] if not isolation else isolation
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *flags, "-w", str(tmp / "dist"),
                    str(source)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("pql_pipeline-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the wheel installed (no dependencies); the dev venv's site-packages lend them
    through a .pth file (whose own .pth files, e.g. the editable install's finder, stay unprocessed)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp)
    names = zipfile.ZipFile(wheel).namelist()
    assert "pql_conf/train.yaml" in names and "pql_conf/data/demo.yaml" in names
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site, tmp


def test_the_wheel_runs_from_another_folder_with_its_own_config(installed):
    python, site, tmp = installed
    work = tmp / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import features, app.command as a; print(features.__file__); "
                            "print(a.CONF_DIR)"], capture_output=True, text=True, cwd=work, check=True)
    module, conf = where.stdout.split()
    assert Path(module).is_relative_to(site), module  # the wheel's code, not the repository's src/
    assert Path(conf) == site / "pql_conf" and (Path(conf) / "train.yaml").is_file()

    out = subprocess.run([str(python), "-m", "features", "as_of=now", "data.demo.accounts=200",
                          f"output={tmp}/f.parquet", f"hydra.run.dir={tmp}/run"],
                         capture_output=True, text=True, cwd=work, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    frame = pd.read_parquet(tmp / "f.parquet")
    assert len(frame) > 0 and frame["account_id"].is_unique

    script = python.parent / "pql-features"
    out = subprocess.run([str(script), "as_of=yesterday"], capture_output=True, text=True, cwd=work, timeout=60)
    assert out.returncode == 2 and out.stderr.strip() == (
        "error: as_of: 'yesterday' is not an instant; give an ISO-8601 date or time (2024-06-03, "
        "2024-06-03T08:00:00Z) or now")


def test_users_add_config_folders_with_config_dir(installed):
    python, _, tmp = installed
    mine = tmp / "my_conf" / "model"
    mine.mkdir(parents=True)
    (mine / "tiny.yaml").write_text("name: logistic\nC: 0.5\nmax_iter: 100\nclass_weight: null\n")
    out = subprocess.run([str(python), "-m", "train", "--config-dir", str(tmp / "my_conf"), "model=tiny",
                          "--cfg", "job"], capture_output=True, text=True, cwd=tmp, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "C: 0.5" in out.stdout and "horizon_days: 30" in out.stdout
