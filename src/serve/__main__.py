"""python -m serve as_of=DATE -- the nightly batch job: score every eligible account, write atomically."""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from features.app import CONF_DIR, exits_cleanly, log, plain
from serve.job import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="serve")
@exits_cleanly
def main(cfg: DictConfig) -> None:
    job = run_job(plain(cfg))
    tiers = job.scores["pql_tier"].value_counts().sort_index()
    log.info("as of %s: %s accounts scored with %s (version %s) -> %s", job.as_of, f"{len(job.scores):,}",
             job.model_uri, job.model_version, job.written_to)
    log.info("PQL tiers: %s; monitoring run %s", ", ".join(f"{k}: {v:,}" for k, v in tiers.items()) or "none",
             job.monitoring_run)


if __name__ == "__main__":
    main()
