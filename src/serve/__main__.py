"""python -m serve as_of=DATE -- the nightly batch job: score every eligible account, write atomically.

Its log goes to the console and to ``serve.log`` in Hydra's run folder (``hydra.run.dir``, default
``outputs/<date>/<time>/``), failures included: the one-line reason a scheduler sees on stderr is
logged there too, as an ERROR line.
"""
from __future__ import annotations

from omegaconf import DictConfig

from app.command import command, log, plain
from features.errors import PipelineError


@command("serve")
def main(cfg: DictConfig) -> None:
    """Score every eligible account at ``as_of`` (:func:`serve.job.run_job`) and log the tiers' counts."""
    from serve.job import run_job  # MLflow, LightGBM: loaded once the config has been checked

    try:
        job = run_job(plain(cfg))
    except PipelineError as exc:  # the reason in the run's log file too (stderr gets it from exits_cleanly)
        log.error("failed (exit %d): %s", exc.exit_code, exc)
        raise
    except Exception as exc:
        log.error("failed (exit 1): %s: %s", type(exc).__name__, " ".join(str(exc).split())[:500])
        raise
    tiers = job.scores["pql_tier"].value_counts().sort_index()
    log.info("as of %s: %s accounts scored with %s (version %s) -> %s", job.as_of, f"{len(job.scores):,}",
             job.model_uri, job.model_version, job.written_to)
    log.info("PQL tiers: %s; monitoring run %s", ", ".join(f"{k}: {v:,}" for k, v in tiers.items()) or "none",
             job.monitoring_run)


if __name__ == "__main__":
    main()
