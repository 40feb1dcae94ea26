"""Point-in-time account features for product-led SaaS: the data plane of the PQL pipeline.

The API in four calls::

    from features.data.load import load_tables            # read, map, validate, set aside
    from features.plan import plan_features
    from features.build import build_features, build_training_table
    from features.config import DataConfig, FeatureConfig

    tables, report = load_tables(DataConfig(dir="exports/"))
    spec = plan_features(tables, "2024-06-03", FeatureConfig())     # columns from rows before the as-of
    frame = build_features(tables, ["2024-06-03"], spec)            # one row per eligible account

``python -m features as_of=DATE`` does the same from the command line.
"""
