"""Batch scoring: the registered model, the same features at ``as_of``, atomic writes, monitoring
(``python -m serve``)."""
