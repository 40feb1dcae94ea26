"""notebooks/learned_vs_rules.ipynb runs end to end on a small demo world, in a throwaway MLflow store.

The model is trained by the real command (``python -m train`` in a subprocess, in ``tmp_path``),
then the notebook is executed by a fresh ``python3`` kernel with ``PQL_TRACKING_URI`` pointing at
that store. ipykernel installs the ``python3`` kernelspec into ``sys.prefix`` and jupyter_client
launches it with the current interpreter, so ``pip install -e '.[dev]'`` is all it needs.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "learned_vs_rules.ipynb"
RULES = ("active_team", "api_builder", "seats_near_limit", "good_fit", "mql", "any_rule")


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/markdown", "text/html"))


def test_notebook_is_committed_clean():
    """No stored outputs, a ``parameters`` cell, the python3 kernel, and nothing defined in it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "clear the outputs"
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and "PQL_TRACKING_URI" in parameters[0].source
    assert not any(line.lstrip().startswith(("def ", "class ")) for cell in code for line in cell.source.splitlines())


def test_notebook_runs_on_a_fresh_training_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path.as_posix()}/mlflow.db"
    # a daily grid and a 7-day horizon: the notebook's words follow the run, never "weekly" or "within 30 days"
    command = [sys.executable, "-m", "train", f"tracking.uri='{uri}'", "data.demo.accounts=1000",
               "data.demo.days=200", "data.demo.start=2024-01-01", "progress=false", "backtest.baseline=null",
               "snapshots.every_days=1", "label.horizon_days=7", f"hydra.run.dir='{(tmp_path / 'run').as_posix()}'"]
    trained = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "MPLBACKEND": "Agg"})
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (tmp_path / "run" / "summary.json").exists()

    monkeypatch.setenv("PQL_TRACKING_URI", uri)  # the kernel inherits this process's environment
    monkeypatch.delenv("PQL_RUN_ID", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on any cell error

    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    text = "\n".join(_text(output) for output in outputs)
    for rule in RULES:
        assert rule in text, f"rule {rule} missing from the notebook's output"
    assert "call now" in text and "Test period" in text
    words = text + "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "daily" in words and "account-days" in words and "within 7 days" in words
    assert not re.search(r"weekly|account-weeks|within 30 days|test weeks|each week", words)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 5  # the precision bar chart and the four plots logged with the run
