"""The command line end to end, in subprocesses, as a user would run it."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cnn.data import load_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--epochs", "1", "--train-size", "3000", "--batch-size", "32", "--filters", "8", "--dense-units", "32"]


def cli(*args, runs_dir, timeout=300):
    env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cnn", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("cli-runs")
    out = cli("train", *TINY, "--name", "from the cli", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    return runs_dir, out


def test_train_prints_progress_run_id_and_test_accuracy(trained):
    runs_dir, out = trained
    assert "Training fast default (changed: epochs, filters, dense_units, batch_size, train_size)" in out.stdout
    assert "] 100% epoch 1/1" in out.stdout  # the progress line
    assert "finished after" in out.stdout and "Test accuracy" in out.stdout
    (run_dir,) = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert f"Run {run_dir.name} (from the cli)" in out.stdout


def test_runs_and_evaluate(trained):
    runs_dir, _ = trained
    out = cli("runs", runs_dir=runs_dir)
    assert out.returncode == 0 and "from the cli" in out.stdout and "finished" in out.stdout
    run_id = out.stdout.splitlines()[1].split()[0]
    out = cli("evaluate", run_id, runs_dir=runs_dir)
    assert out.returncode == 0 and "test accuracy" in out.stdout and "Per digit: 0:" in out.stdout
    out = cli("evaluate", "../../etc", runs_dir=runs_dir)
    assert out.returncode == 2 and "not a run id" in out.stderr


def _digit_png(path, index, invert=True):
    digit = load_mnist().x_test[index]
    image = Image.fromarray(255 - digit if invert else digit).resize((140, 140), Image.BILINEAR)
    image.save(path)
    return int(load_mnist().y_test[index])


def test_predict_classifies_good_files_and_reports_bad_ones(trained, tmp_path):
    runs_dir, _ = trained
    files, labels = [], []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        labels.append(_digit_png(path, i))
        files.append(str(path))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    out = cli("predict", "--json", *files, str(corrupt), str(tmp_path / "missing.png"), str(blank), runs_dir=runs_dir)
    assert out.returncode == 1  # some files failed
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["file"] for line in lines] == [*files, str(corrupt), str(tmp_path / "missing.png"), str(blank)]
    for line in lines[:3]:
        assert len(line["probabilities"]) == 10 and abs(sum(line["probabilities"]) - 1) < 1e-3
        assert line["digit"] == int(np.argmax(line["probabilities"]))
    assert sum(line["digit"] == label for line, label in zip(lines[:3], labels)) >= 2  # a tiny model, still right
    assert "not a readable image" in lines[3]["error"]
    assert "There is no file" in lines[4]["error"]
    assert "no digit" in lines[5]["error"]

    out = cli("predict", *files[:1], runs_dir=runs_dir)
    assert out.returncode == 0 and out.stdout.startswith(f"{files[0]}: ")


def test_predict_without_any_run_says_how_to_train(tmp_path):
    png = tmp_path / "d.png"
    _digit_png(png, 0)
    out = cli("predict", str(png), runs_dir=tmp_path / "empty")
    assert out.returncode == 2 and "python -m cnn train" in out.stderr


def test_bad_flags_name_the_field(tmp_path):
    out = cli("train", "--conv-blocks", "5", runs_dir=tmp_path)
    assert out.returncode == 2 and "conv_blocks" in out.stderr and "use at most 4" in out.stderr


def test_ctrl_c_stops_training_and_still_saves(tmp_path):
    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"}
    args = ["train", "--epochs", "5", "--train-size", "6000", "--batch-size", "32", "--filters", "8"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # wait for the first progress line: training has started
            if line.startswith("[") or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Stopping after this step" in stdout and "stopped early" in stdout
    out = cli("runs", runs_dir=tmp_path / "runs")
    assert "stopped" in out.stdout


def test_train_more_continues_a_saved_run_into_a_new_one(trained, tmp_path):
    import shutil

    runs_dir = tmp_path / "runs"
    shutil.copytree(trained[0], runs_dir)
    (first,) = [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")]
    refused = cli("train", "--more", first, "--filters", "32", runs_dir=runs_dir)
    assert refused.returncode == 2 and "only --epochs" in refused.stderr
    out = cli("train", "--more", first, "--epochs", "1", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    assert "1 more epoch(s)" in out.stdout and "(from the cli, +1 epochs)" in out.stdout
    new = next(p for p in runs_dir.iterdir() if p.name not in (first,) and not p.name.startswith("."))
    meta = json.loads((new / "run.json").read_text())
    assert meta["continued_from"] == first and meta["config"]["epochs"] == 2
    assert len(meta["history"]["epoch_end_steps"]) == 2
