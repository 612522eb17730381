"""Teaching the model the class's handwriting: the collection, the CLI, export, fine-tune."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn import collection, handwriting
from cnn.errors import CnnError
from cnn.finetune import finetune
from cnn.store import list_runs

ROOT = Path(__file__).resolve().parent.parent


def typed(n: int, start: int = 0, style: str = "rgba", turned: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Typed-looking digits, an MNIST model reads them fairly well; ``turned`` lies them on
    their side, a style it reads badly (under 20% right) and can clearly be taught."""
    images, labels = [], []
    for i in range(start, start + n):
        plane, *_ = handwriting.make_digit(999, i, "typed", style, i % 10)
        image = handwriting.as_file(plane, style)
        images.append(np.ascontiguousarray(np.rot90(image)) if turned else image)
        labels.append(i % 10)
    return images, labels


def canvas_png(image: np.ndarray) -> tuple[bytes, str]:
    """``image`` as the 280x280 canvas sends it: (PNG bytes, their data URL)."""
    buffer = io.BytesIO()
    Image.fromarray(image).resize((280, 280)).save(buffer, format="PNG")
    return buffer.getvalue(), "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnn", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=300,
    )


def test_a_labelled_drawing_is_saved_with_its_28x28_label_and_who(runs_dir):
    (image,), _ = typed(1, start=7)
    drawing = collection.add_drawing(
        image, "7", run="some-run", predicted=1, confidence=0.8, owner="k1", owner_name="ada"
    )
    (listed,) = collection.list_drawings()
    assert (listed.id, listed.label, listed.owner_name, listed.run, listed.predicted) == (
        drawing.id,
        7,
        "ada",
        "some-run",
        1,
    )
    assert np.array_equal(listed.prepared, drawing.prepared)
    assert listed.prepared.shape == (28, 28) and listed.prepared.dtype == np.uint8 and listed.prepared.max() > 200
    assert listed.wrong and listed.original().shape[:2] == image.shape[:2]


@pytest.mark.parametrize("label", ["x", "10", "-1", "", "3.5"])
def test_a_label_that_is_not_a_digit_is_refused(runs_dir, label):
    (image,), _ = typed(1)
    with pytest.raises(CnnError, match="not a digit"):
        collection.add_drawing(image, label)
    assert collection.list_drawings() == []


def test_a_blank_drawing_is_refused(runs_dir):
    with pytest.raises(CnnError, match="no digit"):
        collection.add_drawing(np.zeros((280, 280, 4), np.uint8), 3)


def test_a_student_and_the_class_have_limits(runs_dir, monkeypatch):
    monkeypatch.setattr(collection, "MAX_PER_STUDENT", 2)
    monkeypatch.setattr(collection, "MAX_TOTAL", 3)
    images, labels = typed(4)
    for image, label in zip(images[:2], labels):
        collection.add_drawing(image, label, owner="k1")
    with pytest.raises(CnnError, match="the most one student may"):
        collection.add_drawing(images[2], labels[2], owner="k1")
    collection.add_drawing(images[2], labels[2], owner="k2")
    with pytest.raises(CnnError, match="collection is full"):
        collection.add_drawing(images[3], labels[3], owner="k3")


def test_thirty_students_labelling_at_once_lose_nothing(runs_dir):
    images, labels = typed(30)
    errors = []

    def label(i):
        try:
            collection.add_drawing(images[i], labels[i], owner=f"student{i}")
        except Exception as exc:  # noqa: BLE001 - any failure fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drawings = collection.list_drawings()
    assert errors == [] and len(drawings) == 30 and len({d.id for d in drawings}) == 30
    assert sorted(d.owner for d in drawings) == sorted(f"student{i}" for i in range(30))


def test_a_crash_mid_write_leaves_every_saved_drawing_readable(runs_dir):
    """A process labelling in a loop is killed (SIGKILL) mid-way: what was saved is whole."""
    script = (
        "import numpy as np\n"
        "from cnn import collection, handwriting\n"
        "plane, *_ = handwriting.make_digit(999, 3, 'neat', 'rgba', 3)\n"
        "image = handwriting.as_file(plane, 'rgba')\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    collection.add_drawing(image, 3)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CNN_RUNS_DIR": str(runs_dir)},
    )
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 120
    while len(list((runs_dir / "drawings").glob("*.npz"))) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    files = [p for p in (runs_dir / "drawings").iterdir() if not p.name.startswith(".")]
    drawings = collection.list_drawings()
    assert len(drawings) == len(files) >= 5 and collection.damaged() == []
    assert all(d.label == 3 for d in drawings)


def test_the_count_is_the_drawing_files_without_reading_them(runs_dir):
    """What the Draw page shows after every stroke: each labelled drawing, a damaged file too
    (the Drawings page names those), never a write's hidden leftover."""
    assert collection.count() == 0, "no folder yet"
    images, labels = typed(3)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    (runs_dir / "drawings" / "broken.npz").write_bytes(b"not a zip")
    (runs_dir / "drawings" / ".tmp-half.npz").write_bytes(b"")
    assert collection.count() == 4 and len(collection.list_drawings()) == 3
    assert collection.damaged() == ["broken.npz"]


def test_export_round_trip_in_mnists_layout(runs_dir, tmp_path):
    images, labels = typed(12)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    out = tmp_path / "class.npz"
    assert collection.export(out) == 12
    with np.load(out, allow_pickle=False) as z:  # what cnn.data reads, without MNIST's checksums
        x, y = z["x"], z["y"]
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert sorted(y.tolist()) == sorted(labels)
    assert np.array_equal(x, np.stack([d.prepared for d in collection.list_drawings()]))


def test_the_cli_labels_many_files_keeps_going_past_bad_ones_and_exports(runs_dir, tmp_path):
    images, _ = typed(2, start=20)  # two zeros
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"zero{i}.png")
        Image.fromarray(image).save(files[-1])
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "blank.png")
    env = {"CNN_RUNS_DIR": str(runs_dir)}
    out = cli(
        "label", str(files[0]), str(tmp_path / "notes.txt"), str(tmp_path / "blank.png"), str(files[1]), "0", env=env
    )
    assert out.returncode == 1, out.stderr
    assert "notes.txt: error" in out.stdout and "blank.png: error" in out.stdout
    assert out.stdout.count("saved as a 0") == 2
    bad = cli("label", str(files[0]), "seven", env=env)
    assert bad.returncode == 2 and "not a digit" in bad.stderr
    listed = cli("drawings", env=env)
    assert "2 labelled drawings" in listed.stdout
    exported = cli("drawings", "export", str(tmp_path / "out.npz"), env=env)
    assert exported.returncode == 0 and (tmp_path / "out.npz").is_file()


def test_finetune_teaches_a_new_style_and_keeps_mnist(good_run, runs_dir):
    # Typed digits upright were read 94% right before teaching in one CI run: too little room
    # to show a gain. On their side, with 36 held back (18 gave gains of 0.17-0.44 over five
    # runs, too coarse), four runs went 17-25% -> 64-94%, gains of 0.47-0.69.
    images, labels = typed(120, turned=True)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    result, report = finetune(good_run, collection.list_drawings(), steps=120)
    assert report.method == "held back 30%, 36 drawings"
    assert report.drawings_before < 0.5 and report.drawings_after > report.drawings_before + 0.25, report
    assert report.mnist_after > report.mnist_before - 0.01, report
    assert len(result.history.step) == 120 and result.test.accuracy == report.mnist_after


def test_the_finetune_command_saves_a_new_run_and_ends_with_both_pairs(good_run, runs_dir):
    images, labels = typed(12)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    out = cli("finetune", "--run", good_run.id, env={"CNN_RUNS_DIR": str(runs_dir)})
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-2:]
    assert last[0].startswith("MNIST test: ") and " -> " in last[0]
    assert last[1].startswith("class drawings (3-fold cross-validation): ")  # few drawings: cross-validated
    taught = next(r for r in list_runs() if r.id != good_run.id)
    assert taught.name == "good test run, taught 12 drawings" and taught.taught["from"] == good_run.id
    assert json.loads((good_run.path / "run.json").read_text())["name"] == "good test run"  # the original stays


def test_compare_shows_each_runs_accuracy_on_drawn_digits_and_on_the_class_drawings(good_run, runs_dir):
    from streamlit.testing.v1 import AppTest

    from cnn import scores

    images, labels = typed(10)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    (row,) = at.dataframe[0].value.to_dict("records")
    assert 0.5 < row["drawn_accuracy"] <= 1.0 and 0.0 <= row["class_accuracy"] <= 1.0
    assert row["drawn_accuracy"] == scores.drawn_accuracy(good_run)  # kept in scores.json, not scored again
    assert len(json.loads((runs_dir / scores.SCORES_FILE).read_text())) == 2


def test_labelling_from_the_draw_page_and_the_collection_page(good_run, runs_dir):
    from streamlit.testing.v1 import AppTest

    from cnn.classroom import owner_key

    (image,), _ = typed(1, start=3)  # a 3
    _, url = canvas_png(image)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["me"] = "labeller-token-0123456789"
    at.run()
    at.switch_page("pages/draw.py").run()
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}}
    at.run()
    assert not at.exception, at.exception
    answer = int(at.header[0].value.split(":")[1].split()[0])
    correct = 3 if answer != 3 else 8  # say it is something else when the model happens to be right
    (pills,) = [p for p in at.get("button_group") if p.proto.label.startswith("No, it")]
    pills.set_value(correct).run()
    assert any("Saved in the class's drawings as a" in s.value for s in at.success), [s.value for s in at.success]
    (saved,) = collection.list_drawings()
    assert saved.label == correct and saved.predicted == answer and saved.run == good_run.id
    assert saved.owner == owner_key("labeller-token-0123456789")

    at.switch_page("pages/drawings.py").run()
    assert not at.exception, at.exception
    assert any("1 labelled drawings" in m.value for m in at.markdown)
    assert not [b for b in at.button if (b.key or "").startswith("delete_")]  # students do not delete
    at.session_state["teacher"] = True
    at.run()
    at.button(key=f"delete_{saved.id}").click().run()
    assert collection.list_drawings() == []


def test_that_s_right_saves_the_drawing_the_canvas_sent_once(good_run, runs_dir):
    # The buttons keep the bytes the browser sent, not the decoded drawing (issue 10's memory),
    # and decode them on the click: what is saved must be that drawing, once.
    from streamlit.testing.v1 import AppTest

    (image,), _ = typed(1, start=4)
    png, url = canvas_png(image)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/draw.py").run()
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}}
    at.run()
    answer = int(at.header[0].value.split(":")[1].split()[0])
    at.button(key="label_right").click().run()
    assert not at.exception, at.exception
    (saved,) = collection.list_drawings()
    assert saved.label == saved.predicted == answer and saved.run == good_run.id
    assert np.array_equal(saved.original(), np.asarray(Image.open(io.BytesIO(png))))
    # The same drawing, labelled: the buttons give way to a note, so it cannot be saved twice.
    assert any("Saved in the class's drawings as a" in m.value for m in at.success)
    assert not [b for b in at.button if b.key == "label_right"]


def test_teach_the_model_from_the_draw_page_runs_as_a_job_and_reports_before_and_after(
    good_run, runs_dir, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    from cnn import jobs

    monkeypatch.setenv("CNN_JOBS_DB", str(tmp_path / "jobs.db"))
    images, labels = typed(12)
    for image, label in zip(images, labels):
        collection.add_drawing(image, label)
    _, url = canvas_png(images[0])
    at = AppTest.from_file(str(ROOT / "pages" / "draw.py"), default_timeout=180)
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}}
    at.run()
    assert at.button(key="teach").label == "Teach the model the class's 12 drawings"
    at.button(key="teach").click().run()
    queue = jobs.job_queue()
    (job,) = [j for j in queue.jobs_of(owner_key_of(at)) if j.kind == jobs.TEACH]
    assert job.base_run == good_run.id
    deadline = time.monotonic() + 300
    while not (job := queue.get(job.id)).ended:
        assert time.monotonic() < deadline, job.state
        queue.touch(job.owner)
        time.sleep(0.3)
    assert job.state == jobs.FINISHED, job.error
    taught = job.run
    assert taught.name == "good test run, taught 12 drawings" and taught.taught["from"] == good_run.id
    assert taught.taught["method"] == "3-fold cross-validation" and len(taught.taught["class_drawings"]) == 2
    assert {r.id for r in list_runs()} == {good_run.id, taught.id}  # the original stays


def owner_key_of(at) -> str:
    from cnn.classroom import owner_key

    return owner_key(at.session_state["token"])
