"""The scoring bundle (train.bundle): a tampered, truncated or damaged bundle is refused in one line, exit 4, before LightGBM reads it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train.bundle import BundleError, write_manifest
from train.scorer import Scorer


@pytest.fixture
def bundle(trained, tmp_path) -> Path:
    return trained.job.result.scorer.save(tmp_path / "bundle")


def _swap_two_names(folder: Path) -> tuple[str, str]:
    spec = json.loads((folder / "spec.json").read_text())
    a, b = spec["columns"][0], spec["columns"][1]
    a["name"], b["name"] = b["name"], a["name"]
    (folder / "spec.json").write_text(json.dumps(spec, indent=1))
    return a["name"], b["name"]


_LOAD = """
import sys
from features.errors import PipelineError
from train.scorer import Scorer
try:
    Scorer.load(sys.argv[1])
except PipelineError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def test_swapped_feature_names_are_caught_by_the_hash(bundle):
    _swap_two_names(bundle)
    with pytest.raises(BundleError, match="spec.json was changed or damaged") as info:
        Scorer.load(bundle)
    assert info.value.exit_code == 4 and "\n" not in str(info.value)


def test_swapped_feature_names_are_caught_by_the_booster_even_with_a_rewritten_manifest(bundle):
    _swap_two_names(bundle)
    write_manifest(bundle)
    with pytest.raises(BundleError, match="feature spec does not match model.lgb.txt: 2 feature name"):
        Scorer.load(bundle)


@pytest.mark.parametrize("name", ["calibrator.json", "spec.json", "meta.json", "model.lgb.txt", "manifest.json"])
def test_a_missing_file_is_one_line(bundle, name):
    (bundle / name).unlink()
    with pytest.raises(BundleError) as info:
        Scorer.load(bundle)
    assert "\n" not in str(info.value) and (name in str(info.value))


@pytest.mark.parametrize("name", ["tiers.json", "spec.json", "meta.json", "rules.json", "calibrator.json"])
def test_broken_json_is_one_line(bundle, name):
    (bundle / name).write_text('{"broken": ')
    write_manifest(bundle)  # consistent tampering: the JSON check itself must catch it
    with pytest.raises(BundleError, match=f"{name} is not valid JSON"):
        Scorer.load(bundle)


def test_an_extra_file_in_the_bundle_is_refused(bundle):
    (bundle / "python_model.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(BundleError, match="does not list"):
        Scorer.load(bundle)


@pytest.mark.parametrize("rewrite_manifest", [False, True])
@pytest.mark.parametrize("keep", [0.3, 0.97, 0.9999])
def test_a_truncated_lightgbm_file_is_one_line_not_sigabrt(bundle, keep, rewrite_manifest):
    path = bundle / "model.lgb.txt"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    if rewrite_manifest:
        write_manifest(bundle)  # the hash no longer helps: the file check must stop it before LightGBM
    done = subprocess.run([sys.executable, "-c", _LOAD, str(bundle)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, (done.returncode, done.stderr[-2000:])  # -6 would be SIGABRT
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.lgb.txt" in lines[0], done.stderr
