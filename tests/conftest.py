"""Shared fixtures: a private runs folder per test, and real models trained once per session."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# AppTest reads .streamlit/config.toml, which hides error details from users; tests want them.
os.environ["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] = "full"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An empty runs folder for this test (CNN_RUNS_DIR points at it)."""
    path = tmp_path / "runs"
    monkeypatch.setenv("CNN_RUNS_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def no_workers_left():
    """Whatever a test queued through the app's queue (``cnn.jobs.job_queue``) ends with the test:
    the queue shuts down and its worker process leaves."""
    yield
    if (jobs := sys.modules.get("cnn.jobs")) is not None:
        jobs.shutdown_queues()


@pytest.fixture(scope="session")
def tiny_config():
    """Trains in a few seconds: 1 epoch over 3,000 images (~85 steps)."""
    from cnn.config import TrainConfig

    return TrainConfig(epochs=1, train_size=3000, batch_size=32, filters=8, dense_units=32)


@pytest.fixture(scope="session")
def tiny_result(tiny_config):
    """(TrainResult, progress snapshots) of one tiny training, shared by the tests that only read it."""
    from cnn.train import train

    snapshots = []
    return train(tiny_config, on_progress=snapshots.append), snapshots


@pytest.fixture(scope="session")
def good_run_dir(tmp_path_factory) -> Path:
    """A runs folder holding one reasonably accurate run (~97% test accuracy), trained once."""
    from cnn.config import TrainConfig
    from cnn.store import save_run
    from cnn.train import train

    root = tmp_path_factory.mktemp("good-runs")
    result = train(TrainConfig(epochs=1, train_size=20000))
    assert result.test.accuracy > 0.95, result.test.accuracy
    save_run(result, "good test run", root)
    return root


@pytest.fixture
def good_run(good_run_dir, runs_dir):
    """The accurate run, copied into this test's own runs folder; returns its RunInfo."""
    from cnn.store import list_runs

    shutil.copytree(good_run_dir, runs_dir)
    (run,) = list_runs(runs_dir)
    return run
