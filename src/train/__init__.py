"""Training: time splits, LightGBM (or a logistic baseline), calibration, a backtest against the
hand-defined PQL rules, intent/fit tiers, and MLflow tracking (``python -m train``)."""
