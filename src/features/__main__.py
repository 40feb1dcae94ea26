"""python -m features as_of=DATE output=PATH -- the feature table at one snapshot."""
from __future__ import annotations

from omegaconf import DictConfig

from app.command import command, log, plain


@command("features")
def main(cfg: DictConfig) -> None:
    """Load the source, plan the features at ``as_of``, build them and write the table (and the spec)."""
    from engines.base import engine_for  # loaded once the config has been checked
    from features.config import DataConfig, FeatureConfig
    from features.io import check_output, write_file
    from features.data.sources import input_files
    from features.windows import to_timestamp

    as_of = to_timestamp(cfg.as_of)
    data = DataConfig.from_mapping(plain(cfg.data))
    inputs = input_files(data)  # outputs are checked before any work: never over an input, never a folder
    check_output(cfg.output, inputs)
    if cfg.spec_output:
        check_output(cfg.spec_output, inputs, None, key="spec_output")
    features = FeatureConfig.from_mapping(plain(cfg.features)).for_source(data)  # what the source brings
    engine = engine_for(plain(cfg.get("engine")))  # local, or spark (engine=spark)
    tables, report = engine.load_tables(data, instants=[as_of])
    spec = engine.plan_features(tables, as_of, features)
    frame = engine.build_features(tables, [as_of], spec, progress=cfg.progress)
    write_file(frame, cfg.output)
    if cfg.spec_output:
        spec.save(cfg.spec_output)
    for line in report.lines():
        log.info(line)
    log.info("as of %s: %s eligible accounts, %s features -> %s", as_of, f"{len(frame):,}", len(spec.names),
             cfg.output)


if __name__ == "__main__":
    main()
