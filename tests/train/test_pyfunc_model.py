"""The registered model is portable (issue 8, deliverable 2).

In a fresh virtual environment where this project is NOT installed (``import train`` fails there), the
registered pyfunc loads with ``mlflow.pyfunc.load_model`` -- from the code it ships -- and scores the
project's own ``python -m features`` output read from Parquet, as it is (int counts, float ratios,
categorical fit columns, ``account_id``/``as_of``); ``mlflow models serve`` answers a scoring request.
The shipped code is covered by the content hash: editing it, or adding a file beside it, is refused.

The fresh venv gets its third-party packages without downloading anything: a ``.pth`` file points at
the dev venv's site-packages. The project's editable install there is itself a ``.pth`` file, which
Python processes only in a site directory -- so it stays inactive (asserted).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
from pathlib import Path

import pandas as pd
import pytest

from train import tracking
from train.config import TrackingConfig
from train.tracking import TrackingError

AS_OF = "2024-11-04"



@pytest.fixture(scope="module")
def model_uri(trained) -> str:
    uri = trained.job.summary["model_uri"]
    assert uri.startswith("models:/pql-propensity/"), uri
    return uri


@pytest.fixture(scope="module")
def bare(tmp_path_factory, trained):
    """(python of a fresh venv without this project, its environment, a working folder outside the repo)."""
    root = tmp_path_factory.mktemp("portable")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # what `pip install uvicorn` would put in bin/ (mlflow models serve runs `uvicorn` from PATH)
    uvicorn = env_dir / "bin" / "uvicorn"
    uvicorn.write_text(f"#!{python}\nimport sys\nfrom uvicorn.main import main\nsys.exit(main())\n")
    uvicorn.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}", MLFLOW_TRACKING_URI=trained.uri,
               MLFLOW_REGISTRY_URI=trained.uri, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
               PYTHONDONTWRITEBYTECODE="1")
    work = root / "work"
    work.mkdir()
    return python, env, work


@pytest.fixture(scope="module")
def features_parquet(trained, tmp_path_factory) -> Path:
    """``python -m features`` on the same demo world the model was trained on, written as Parquet."""
    work = tmp_path_factory.mktemp("features")
    out = work / "features.parquet"
    subprocess.run([sys.executable, "-m", "features", *trained.demo, f"as_of={AS_OF}", f"output={out}"],
                   cwd=work, capture_output=True, text=True, check=True, timeout=120)
    frame = pd.read_parquet(out)
    # what made the pyfunc refuse it before: int counts, categorical fit columns, extra columns
    assert {"account_id", "as_of"} <= set(frame.columns)
    assert any(pd.api.types.is_integer_dtype(t) for t in frame.dtypes)
    assert any(isinstance(t, pd.CategoricalDtype) for t in frame.dtypes)
    return out


def _run(python, env, work, code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code, *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow  # a fresh venv
def test_the_project_is_not_importable_in_the_bare_venv(bare):
    python, env, work = bare
    for module in ("train", "features", "serve"):
        done = _run(python, env, work, f"import {module}")
        assert done.returncode != 0 and f"No module named '{module}'" in done.stderr, (module, done.stderr[-500:])
    done = _run(python, env, work, "import mlflow, lightgbm, sklearn, skops; print('ok')")
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-1000:]


LOAD_AND_PREDICT = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
import train.scorer
frame = pd.read_parquet(sys.argv[2])
out = model.predict(frame)
plain = model.predict(frame, params={"reasons": False})
print(json.dumps({"scorer_file": train.scorer.__file__, "rows": len(frame), "out_rows": len(out),
                  "columns": list(out.columns), "scores": out["score"].tolist(),
                  "plain_columns": list(plain.columns)}))
"""


@pytest.mark.slow  # a fresh venv
def test_the_registered_model_loads_and_scores_features_output_without_the_project(
        bare, model_uri, features_parquet, trained):
    python, env, work = bare
    done = _run(python, env, work, LOAD_AND_PREDICT, model_uri, str(features_parquet))
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert "/code/train/scorer.py" in got["scorer_file"] and "/work/main/src" not in got["scorer_file"]
    assert got["out_rows"] == got["rows"] > 100
    assert got["columns"][:6] == ["score", "intent_score", "fit_score", "intent_tier", "fit_tier", "pql_tier"]
    assert "reasons" in got["columns"] and "reasons" not in got["plain_columns"]
    # the same scores as the project's own scorer on the same rows
    frame = pd.read_parquet(features_parquet)
    expected = trained.job.result.scorer.score(frame, with_reasons=False)["score"].to_numpy()
    assert max(abs(a - b) for a, b in zip(got["scores"], expected)) < 1e-9


def test_predict_in_process_accepts_features_output_and_json_like_frames(model_uri, features_parquet, trained):
    """In the dev venv too: the Parquet frame as it is, and the same rows with counts as floats and
    categoricals as plain text (what a JSON client sends) score the same."""
    import mlflow

    tracking.connect(TrackingConfig(**trained.config["tracking"]))
    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.read_parquet(features_parquet).head(300)
    a = model.predict(frame, params={"reasons": False})
    spec = trained.job.result.scorer.spec
    loose = frame.astype({n: "float64" for n in spec.names if n not in spec.categorical})
    loose = loose.astype({n: "object" for n in spec.categorical}).drop(columns=["as_of"])
    b = model.predict(loose, params={"reasons": False})
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(Exception, match="is missing|required"):
        model.predict(frame.drop(columns=[spec.names[0]]))
    bad = frame.astype({spec.names[0]: "object"})
    bad.loc[bad.index[0], spec.names[0]] = "lots"
    with pytest.raises(Exception, match=f"{spec.names[0]}.*should be numeric"):
        model.predict(bad)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a fresh venv
def test_mlflow_models_serve_answers_a_scoring_request(bare, model_uri, features_parquet):
    python, env, work = bare
    port = _free_port()
    log = (work / "serve.log").open("w")
    server = subprocess.Popen([str(python), "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager",
                               "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
                              cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the model server did not start:\n{(work / 'serve.log').read_text()[-3000:]}")
                time.sleep(0.5)
        frame = pd.read_parquet(features_parquet).head(20)
        payload = {"dataframe_split": json.loads(frame.to_json(orient="split", date_format="iso", index=False)),
                   "params": {"reasons": True}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            body = json.loads(urllib.request.urlopen(request, timeout=60).read())
        except urllib.error.HTTPError as exc:
            pytest.fail(f"scoring request refused: {exc.code} {exc.read()[:2000]!r}")
        rows = body["predictions"]
        assert len(rows) == 20
        assert all(0.0 <= row["score"] <= 1.0 for row in rows)
        assert all("reasons" in row for row in rows)
        served_from = (work / "serve.log").read_text()
        assert "No module named" not in served_from
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=5)
        log.close()


# -- the shipped code is part of what registration hashed ------------------------------------------


@pytest.fixture
def model_copy(trained, model_uri, tmp_path) -> Path:
    import mlflow

    tracking.connect(TrackingConfig(**trained.config["tracking"]))
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(tmp_path / "download")))


def _digest(trained, model_uri) -> str:
    import mlflow

    tracking.connect(TrackingConfig(**trained.config["tracking"]))
    name, version = model_uri.removeprefix("models:/").split("/")
    return mlflow.MlflowClient().get_model_version(name, version).tags[tracking.HASH_TAG]


def test_the_model_ships_exactly_the_modules_its_code_imports(model_copy, trained, model_uri):
    from train import model_code

    shipped = sorted(p.relative_to(model_copy / "code").as_posix() for p in (model_copy / "code").rglob("*")
                     if p.is_file())
    assert shipped == model_code.shipped_files()
    assert {"train/scorer.py", "features/spec.py", "train/models.py"} <= set(shipped)
    assert "train/__main__.py" not in shipped and "features/build.py" not in shipped  # no training code
    assert not [f for f in shipped if f.startswith("train/tracking")]  # nor the tracking code (no mlflow import)
    manifest = json.loads((model_copy / "artifacts" / "bundle" / "manifest.json").read_text())
    assert sorted(manifest["shipped_code"]) == shipped
    requirements = (model_copy / "requirements.txt").read_text()
    for name in ("mlflow", "lightgbm", "scikit-learn", "scipy", "pandas", "numpy", "skops"):
        assert f"{name}==" in requirements
    tracking.verify_model_dir(model_copy, model_uri, _digest(trained, model_uri))  # untouched: accepted


@pytest.mark.parametrize("tamper", ["edit", "extra", "pyc", "remove", "manifest"])
def test_tampered_shipped_code_is_refused(model_copy, trained, model_uri, tamper):
    code = model_copy / "code"
    if tamper == "edit":
        with (code / "train" / "scorer.py").open("a") as handle:
            handle.write("\nimport os  # injected\n")
        why = "train/scorer.py was changed"
    elif tamper == "extra":
        (code / "features" / "sitecustomize.py").write_text("print('hi')\n")
        why = "does not list"
    elif tamper == "pyc":
        (code / "train" / "__pycache__").mkdir()
        (code / "train" / "__pycache__" / "scorer.cpython-311.pyc").write_bytes(b"\0" * 16)
        why = "does not list"
    elif tamper == "remove":
        shutil.rmtree(code)
        why = "incomplete|no code paths|shipped"
    else:  # the manifest rewritten to match edited code: the registration hash no longer matches
        with (code / "train" / "scorer.py").open("a") as handle:
            handle.write("\nimport os  # injected\n")
        path = model_copy / "artifacts" / "bundle" / "manifest.json"
        manifest = json.loads(path.read_text())
        from train.bundle import sha256_file

        manifest["shipped_code"]["train/scorer.py"] = sha256_file(code / "train" / "scorer.py")
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        why = "content hash"
    with pytest.raises(TrackingError, match=why):
        tracking.verify_model_dir(model_copy, model_uri, _digest(trained, model_uri))
