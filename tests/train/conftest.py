"""Fixtures shared by the training tests."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def restore_mlflow_uris():
    """tracking.connect() points MLflow (and, through MLFLOW_*_URI, every later subprocess) at a test's
    own store: put the session's back afterwards so later tests still find their models."""
    import mlflow

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    env = {name: os.environ.get(name) for name in names}
    uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    yield
    mlflow.set_tracking_uri(uris[0])
    mlflow.set_registry_uri(uris[1])
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
