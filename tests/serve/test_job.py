"""The scoring job (serve.job): output targets are checked before any work and an input is never overwritten."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from engines.local import LocalEngine
from features.errors import ConfigError
from serve import job as serve_job


def _compose(overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    from app.preflight import compose_config

    return OmegaConf.to_container(compose_config("serve", overrides), resolve=True)


@pytest.fixture
def no_work(monkeypatch):
    """Loading data or a model fails the test: the output must be refused before either."""
    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(LocalEngine, "load_tables", forbidden)  # the local engine: the only one loading here
    monkeypatch.setattr(serve_job.tracking, "resolve_model", forbidden)
    monkeypatch.setattr(serve_job.tracking, "load_model", forbidden)


def _folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "conversions").mkdir(parents=True)
    pd.DataFrame({"account_id": ["a"], "created_at": ["2024-01-01"]}).to_csv(data / "accounts.csv", index=False)
    pd.DataFrame({"account_id": ["a"], "event": ["x"], "timestamp": [pd.Timestamp("2024-01-02")]}).to_parquet(
        data / "events.parquet")
    pd.DataFrame({"account_id": ["a"], "converted_at": [pd.Timestamp("2024-02-01")]}).to_parquet(
        data / "conversions" / "part-0.parquet")
    return data


@pytest.mark.parametrize("name", ["events.parquet", "accounts.csv", "conversions/part-0.parquet",
                                  "conversions/new.parquet", "touches.csv", "./events.parquet"])
def test_an_output_over_an_input_table_is_refused_before_any_work(tmp_path, no_work, name):
    data = _folder(tmp_path)
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    config = _compose([f"data.dir={data}", f"output={data}/{name}", "as_of=2024-12-02"])
    with pytest.raises(ConfigError, match="input of the data source"):
        serve_job.run_job(config)
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before


def test_an_output_into_the_input_duckdb_file_is_refused(tmp_path, no_work):
    db = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(db)).close()
    before = db.read_bytes()
    for output in (str(db), f"sqlite:///{db}"):
        with pytest.raises(ConfigError, match="input of the data source"):
            serve_job.run_job(_compose([f"data.duckdb={db}", f"output={output}"]))
    assert db.read_bytes() == before


def test_bad_output_targets_fail_before_any_work(tmp_path, no_work, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    cases = {str(tmp_path): "is a folder", f"{tmp_path}/scores.txt": "must end in",
             f"{tmp_path}/a_file/scores.parquet": "is a file, not a folder"}
    for output, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            serve_job.run_job(_compose([f"output={output}"]))
    import os

    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(ConfigError, match="not writable"):
        serve_job.run_job(_compose([f"output={tmp_path}/new/scores.parquet"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def _one_error_line(out: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def test_serve_with_a_folder_as_output_exits_2_before_looking_up_the_model(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serve", f"tracking.uri=sqlite:///{tmp_path}/none.db",
                          f"output={tmp_path}", f"hydra.run.dir={tmp_path}/run"],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 2  # not 4: the missing model was never looked up
    assert "is a folder" in _one_error_line(out)


def _expected_alerts(today: pd.DataFrame, before: pd.DataFrame | None, points: float = 10) -> set[str]:
    """The accounts that should alert, worked out apart from serve.alerts: newly tier 1, newly flagged, or moved."""
    flags = [c for c in today.columns if c.startswith("rule_") or c == "learned"]
    now = today.set_index("account_id")
    if before is None:
        hot = (now["pql_tier"] == 1).fillna(False) | now[flags].fillna(False).astype(bool).any(axis=1)
        return set(now.index[hot])
    then = before.set_index("account_id").reindex(now.index)
    hot = (now["pql_tier"] == 1).fillna(False) & ~(then["pql_tier"] == 1).fillna(False)
    for flag in flags:
        hot |= now[flag].fillna(False).astype(bool) & ~then[flag].fillna(False).astype(bool)
    hot |= ((now["score"] - then["score"]).abs().round(9) * 100 > points).fillna(False)
    return set(now.index[hot])


DAYS = ["2024-12-02", "2024-12-03", "2024-12-04", "2024-12-04", "2024-12-07"]  # three days, a rerun, a gap


def _three_days_a_rerun_and_a_gap(trained, caplog, output: list[str], alerts_file) -> list:
    """serve on the demo model over DAYS, no warm-up: each day's alerts against the newest earlier day's scores."""
    base = [*trained.demo, f"tracking.uri={trained.uri}", *output, "alerts.score_points=2", "alerts.warm_days=0"]
    kept, jobs = {}, []
    for day in DAYS:
        caplog.clear()
        with caplog.at_level("INFO", logger="pql"):
            job = serve_job.run_job(trained.compose("serve", [*base, f"as_of={day}"]))
        jobs.append(job)
        assert job.alerts_written_to == str(alerts_file(day))
        written = pd.read_parquet(job.alerts_written_to)
        assert list(written["account_id"]) == list(job.alerts["account_id"])  # the file holds what the job returned
        before_day = max((d for d in kept if d < day), default=None)
        expected = _expected_alerts(job.scores, kept.get(before_day), 2)
        assert set(written["account_id"]) == expected and len(written) == len(expected)
        assert written["first_run"].all() == (before_day is None)
        if before_day is None:
            assert written["compared_with"].isna().all() and "alerts: first run" in caplog.text
        else:
            assert (written["compared_with"] == pd.Timestamp(before_day)).all()
            assert f"changed since the run of {before_day}" in caplog.text
        assert (written["change"] != "").all()
        kept[day] = job.scores
    assert len(jobs[1].alerts) > 0  # the test means something: the demo world moves from one day to the next
    assert jobs[3].alerts.equals(jobs[2].alerts)  # the rerun of 12-04 compares with 12-03 again: the same alerts
    return jobs


def test_alerts_over_three_days_a_rerun_and_a_gap_on_the_demo_model(trained, tmp_path, caplog):
    """output_dir: one scores file and one alerts file a day, in one folder."""
    folder = tmp_path / "scores"
    jobs = _three_days_a_rerun_and_a_gap(trained, caplog, [f"output_dir={folder}"],
                                         lambda day: folder / f"alerts_{day}.parquet")
    import mlflow

    logged = mlflow.MlflowClient(trained.uri).get_run(jobs[1].monitoring_run).data.metrics
    assert logged["alerts"] == len(jobs[1].alerts)  # so runs can be charted night after night
    assert logged["alerts_new_tier1"] == jobs[1].alerts["change"].str.contains("new in tier 1").sum()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"scores_{d}.parquet" for d in sorted(set(DAYS))] + [f"alerts_{d}.parquet" for d in sorted(set(DAYS))])


def test_alerts_with_the_default_output_file(trained, tmp_path, caplog, monkeypatch):
    """No output given (scores.parquet, overwritten daily): each run keeps its day in scores_history/, and the
    alerts go to scores_alerts.parquet -- the same alerts as with one file a day."""
    monkeypatch.chdir(tmp_path)
    jobs = _three_days_a_rerun_and_a_gap(trained, caplog, [], lambda day: "scores_alerts.parquet")
    assert jobs[-1].written_to == "scores.parquet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet", "scores_alerts.parquet", "scores_history"]
    assert sorted(p.name for p in (tmp_path / "scores_history").iterdir()) == [
        f"scores_{d}.parquet" for d in sorted(set(DAYS))]
    pd.testing.assert_frame_equal(pd.read_parquet("scores.parquet"), jobs[-1].scores.reset_index(drop=True),
                                  check_dtype=False)


def test_the_demo_world_shows_alerts_on_its_first_run(trained, tmp_path, caplog, monkeypatch):
    """train then serve on the demo world, nothing kept yet: serve replays the demo's warm-up nights first
    (data.demo.alerts.warm_days), so its first run already compares with the day before."""
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("INFO", logger="pql"):
        job = serve_job.run_job(trained.compose("serve", [*trained.demo, f"tracking.uri={trained.uri}",
                                                          "as_of=2024-12-02"]))
    assert len(job.alerts) > 0 and not job.alerts["first_run"].any()
    assert (job.alerts["compared_with"] == pd.Timestamp("2024-12-01")).all()
    assert "replaying the 3 nights before as_of" in caplog.text and "changed since the run of 2024-12-01" in caplog.text
    assert f"  {job.alerts['account_id'].iloc[0]}  score" in caplog.text  # the top alerts are shown
    assert sorted(p.name for p in (tmp_path / "scores_history").iterdir()) == [
        f"scores_2024-11-{d}.parquet" for d in (29, 30)] + ["scores_2024-12-01.parquet", "scores_2024-12-02.parquet"]
    caplog.clear()
    with caplog.at_level("INFO", logger="pql"):  # a rerun: no replay, the same comparison, the same alerts
        again = serve_job.run_job(trained.compose("serve", [*trained.demo, f"tracking.uri={trained.uri}",
                                                            "as_of=2024-12-02"]))
    assert "replaying" not in caplog.text and again.alerts.equals(job.alerts)


def test_a_single_file_replays_no_more_nights_than_it_keeps(trained, tmp_path, monkeypatch):
    """keep_days=2 keeps the day and one before it: of the demo's 3 warm-up nights only the last is replayed (the
    others would be scored and pruned at once)."""
    monkeypatch.chdir(tmp_path)
    job = serve_job.run_job(trained.compose("serve", [*trained.demo, f"tracking.uri={trained.uri}",
                                                      "as_of=2024-12-02", "alerts.keep_days=2"]))
    assert (job.alerts["compared_with"] == pd.Timestamp("2024-12-01")).all()
    assert sorted(p.name for p in (tmp_path / "scores_history").iterdir()) == [
        "scores_2024-12-01.parquet", "scores_2024-12-02.parquet"]


def test_outputs_keep_the_sources_own_key_name(trained, tmp_path):
    """A source mapped from workspace_id writes workspace_id beside account_id, in the scores and the alerts."""
    from demo import DemoConfig, generate_demo

    data = generate_demo(DemoConfig(accounts=3000, days=365, start="2024-01-01")).write(tmp_path / "data",
                                                                                         weekly_truth=False)
    tables = [p.stem for p in data.glob("*.parquet")]
    for name in tables:
        path = data / f"{name}.parquet"
        pd.read_parquet(path).rename(columns={"account_id": "workspace_id"}).to_parquet(path)
    base = [f"tracking.uri={trained.uri}", f"data.dir={data}", f"output_dir={tmp_path / 'scores'}", "progress=false",
            *[f"data.columns.{name}.account_id=workspace_id" for name in tables]]
    for day in ("2024-12-02", "2024-12-03"):
        job = serve_job.run_job(trained.compose("serve", [*base, f"as_of={day}"]))
    scores = pd.read_parquet(job.written_to)
    assert list(scores.columns[:3]) == ["account_id", "workspace_id", "as_of"]
    assert scores["workspace_id"].equals(scores["account_id"].rename("workspace_id")) and len(scores) > 0
    written = pd.read_parquet(job.alerts_written_to)
    assert list(written.columns[:2]) == ["account_id", "workspace_id"] and len(written) > 0
    assert (written["workspace_id"] == written["account_id"]).all()


def test_only_the_demo_world_replays_nights_unless_asked():
    from features.config import DataConfig
    from serve.alerts import AlertsConfig

    demo = DataConfig(demo={"alerts": {"warm_days": 3}})
    assert serve_job.warm_days(AlertsConfig(), demo) == 3  # what conf/data/demo.yaml brings
    assert serve_job.warm_days(AlertsConfig(), DataConfig(dir="exports", demo={"alerts": {"warm_days": 3}})) == 0
    assert serve_job.warm_days(AlertsConfig(warm_days=0), demo) == 0  # said explicitly: wins
    assert serve_job.warm_days(AlertsConfig(warm_days=2), DataConfig(dir="exports")) == 2
