import os

import numpy as np
import pytest

from cnn import store
from cnn.data import load_mnist
from cnn.errors import CnnError
from cnn.store import (
    best_run,
    check_run_id,
    class_model,
    delete_run,
    get_run,
    list_runs,
    load_model,
    rename_run,
    save_run,
    set_class_model,
)


@pytest.fixture
def saved(tiny_result, runs_dir):
    result, _ = tiny_result
    return save_run(result, "my first run")


def test_a_saved_run_lists_loads_and_predicts_like_the_original(saved, tiny_result, runs_dir):
    result, _ = tiny_result
    (listed,) = list_runs()
    assert listed.id == saved.id and listed.name == "my first run" and listed.damaged is None
    assert listed.path.parent == runs_dir
    assert listed.status == "finished" and listed.config == result.config
    assert listed.test.accuracy == pytest.approx(result.test.accuracy) and listed.test == result.test
    assert len(listed.history.loss) == result.steps and listed.versions["keras"].startswith("3.")
    assert listed.parameters == result.parameters and listed.train_seconds > 0
    x = load_mnist().x_test[:50].astype(np.float32)[..., None] / 255
    model = load_model(listed)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(result.model(x, training=False)), atol=1e-5)
    assert listed.config == result.config


def test_runs_are_listed_newest_first_and_the_best_is_the_most_accurate(tiny_result, runs_dir):
    result, _ = tiny_result
    first = save_run(result, "a")
    second = save_run(result, "b")
    assert [r.id for r in list_runs()][:2] in ([second.id, first.id], [first.id, second.id])
    assert best_run().id in (first.id, second.id)


def test_an_interrupted_save_leaves_earlier_runs_and_no_half_run(saved, tiny_result, runs_dir, monkeypatch):
    result, _ = tiny_result

    def crash(path, value):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_json", crash)
    with pytest.raises(CnnError) as err:
        save_run(result, "second")
    assert "No space left on device" in str(err.value) and "still usable" in str(err.value)
    assert [r.id for r in list_runs()] == [saved.id]
    assert sorted(p.name for p in runs_dir.iterdir()) == [saved.id]  # the temporary folder is gone too


def test_a_crash_leftover_is_ignored_then_swept(saved, tiny_result, runs_dir):
    leftover = runs_dir / ".tmp-20260101-000000-x-abcdef"
    leftover.mkdir()
    (leftover / "model.keras").write_bytes(b"half a file")
    assert [r.id for r in list_runs()] == [saved.id]
    os.utime(leftover, (0, 0))  # long ago
    save_run(tiny_result[0], "next")
    assert not leftover.exists()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: (p / "model.keras").unlink(), "model.keras is missing"),
        (lambda p: (p / "model.keras").write_bytes(b"not a zip at all"), "model.keras is not a Keras file"),
        (lambda p: (p / "run.json").write_text("{ garbage"), "run.json is not valid"),
        (lambda p: (p / "run.json").write_text("[1, 2]"), "run.json is not valid"),
        (lambda p: (p / "run.json").write_text('{"name": "x"}'), "run.json lacks"),
        (lambda p: (p / "run.json").unlink(), "run.json is missing"),
        (lambda p: (p / "run.json").write_bytes(b"\xff\xfe\x00garbage"), "run.json cannot be read"),
    ],
)
def test_damaged_runs_are_listed_with_the_reason_and_never_loaded(saved, tiny_result, damage, reason):
    good = save_run(tiny_result[0], "good")
    damage(saved.path)
    runs = {r.id: r for r in list_runs()}
    assert runs[saved.id].damaged.startswith(reason)
    assert runs[good.id].damaged is None
    with pytest.raises(CnnError, match="damaged.*Delete it"):
        get_run(saved.id)
    assert best_run().id == good.id
    delete_run(saved.id)  # a damaged run can still be deleted
    assert [r.id for r in list_runs()] == [good.id]


def test_a_model_file_that_zips_but_is_not_keras_is_refused_on_load(saved):
    import zipfile

    with zipfile.ZipFile(saved.model_path, "w") as z:
        z.writestr("config.json", '{"class_name": "Lambda", "config": {}}')
    with pytest.raises(CnnError, match="cannot be loaded.*Delete the run"):
        load_model(get_run(saved.id))


@pytest.mark.parametrize("bad", ["../etc", "..", "a/b", "", "A", "x" * 81, "ünï", "run id", "-lead", None, 7])
def test_bad_run_ids_are_refused(bad, runs_dir):
    with pytest.raises(CnnError, match="not a run id"):
        check_run_id(bad)
    with pytest.raises(CnnError):
        get_run(bad)
    with pytest.raises(CnnError):
        delete_run(bad)


def test_rename_accepts_unicode_and_refuses_empty_or_long_names(saved):
    assert rename_run(saved.id, "  chiffres   à la main ✍️ ").name == "chiffres à la main ✍️"
    assert rename_run(saved.id, "tab\there\x00").name == "tabhere"
    with pytest.raises(CnnError, match="cannot be empty"):
        rename_run(saved.id, " \n ")
    with pytest.raises(CnnError, match="at most 80"):
        rename_run(saved.id, "x" * 81)
    assert get_run(saved.id).name == "tabhere"


def test_delete_removes_the_folder(saved, runs_dir):
    delete_run(saved.id)
    assert list_runs() == [] and not saved.path.exists()
    with pytest.raises(CnnError, match="no saved run"):
        delete_run(saved.id)


def test_class_model_is_picked_by_default_and_cleared_on_delete(saved, tiny_result):
    other = save_run(tiny_result[0], "other")
    set_class_model(saved.id)
    assert class_model() == saved.id and best_run().id == saved.id
    set_class_model(other.id)
    assert best_run().id == other.id
    delete_run(other.id)
    assert class_model() is None
    with pytest.raises(CnnError):
        set_class_model("../../etc")


def test_no_runs_folder_means_no_runs(runs_dir):
    assert list_runs() == [] and best_run() is None


def test_a_folder_that_cannot_be_written_gives_a_clear_error(tiny_result, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the runs folder should be")
    with pytest.raises(CnnError, match="Could not save the run"):
        save_run(tiny_result[0], "x", blocker / "runs")


def test_listing_again_reads_only_what_changed(good_run, runs_dir, monkeypatch):
    reads = []
    read = store._read_run
    monkeypatch.setattr(store, "_read_run", lambda path: reads.append(path) or read(path))
    assert [r.id for r in list_runs(runs_dir)] == [good_run.id]
    assert reads == [], "an unchanged run is not parsed again"

    rename_run(good_run.id, "a new name", runs_dir)  # rewrites run.json
    assert [r.name for r in list_runs(runs_dir)] == ["a new name"]
    (good_run.path / "run.json").write_text("{", encoding="utf-8")  # damaged in place
    (run,) = list_runs(runs_dir)
    assert run.damaged and "not valid" in run.damaged


def test_a_run_saved_before_a_knob_existed_reads_as_trained_without_it(saved):
    import json

    meta = json.loads((saved.path / "run.json").read_text())
    for knob in ("typed", "outliers", "shear"):
        meta["config"].pop(knob, None)
    (saved.path / "run.json").write_text(json.dumps(meta))
    (run,) = list_runs()
    assert (run.config.typed, run.config.outliers, run.config.shear) == (0.0, 0.0, 0.0)
