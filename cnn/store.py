"""Saved runs: one folder per run with ``model.keras`` and ``run.json``.

Every write is atomic: a run is assembled in a hidden temporary folder and renamed
into place in one step, and ``run.json`` is replaced by renaming a finished file over
it. A crash leaves either the old state or the new one, plus at worst a hidden
leftover that listings ignore and later saves sweep up. A folder that was damaged by
hand is listed with the reason, never breaks the listing, and is never loaded.

Runs live in ``runs/`` beside the app, or wherever ``CNN_RUNS_DIR`` points.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn.config import ADDED_LATER, ConfigError, TrainConfig, preset_of
from cnn.data import ROOT
from cnn.errors import CnnError
from cnn.model import describe
from cnn.records import History, TestMetrics, number

if TYPE_CHECKING:
    import keras

    from cnn.train import TrainResult

FORMAT = 1
MODEL_FILE, META_FILE = "model.keras", "run.json"
RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
MAX_NAME = 80
LEFTOVER_AGE = 3600  # seconds before an abandoned temporary folder is swept up
CLASS_MODEL_FILE = "class-model.json"
DRAWINGS_FOLDER = "drawings"  # the class's labelled drawings (cnn.collection) live beside the runs
MAX_META_BYTES = 50_000_000  # a 50-epoch run of 60k images at batch 8 writes ~30 MB of history


@dataclass(frozen=True)
class RunInfo:
    """A saved run as listed, its ``run.json`` parsed once; ``damaged`` says why it cannot be used.

    A damaged run has only what could be read (at least its id and folder).
    """

    id: str
    path: Path
    name: str = ""
    created: str = ""
    status: str = ""  # finished | stopped
    preset: str = ""
    summary: str = ""  # the model in one line (cnn.model.describe)
    config: TrainConfig | None = None
    history: History = field(default_factory=History, repr=False)
    test: TestMetrics | None = field(default=None, repr=False)
    steps: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    images_per_s: float = 0.0
    parameters: int = 0
    versions: dict[str, str] = field(default_factory=dict, repr=False)
    owner: str = ""  # the owner key of who trained it; empty for the teacher's (CLI) runs
    owner_name: str = ""  # their nickname when they trained it
    experiment: str = ""  # the class experiment it answers, if any
    taught: dict | None = field(default=None, repr=False)  # for a fine-tuned run: cnn.finetune's report
    continued_from: str = ""  # the run this one trained more
    damaged: str | None = None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def test_accuracy(self) -> float | None:
        return self.test.accuracy if self.test is not None else None

    @property
    def label(self) -> str:
        """One line for pickers: name, test accuracy, date."""
        if self.damaged:
            return f"{self.name or self.id} (damaged)"
        return f"{self.name} · {self.test_accuracy:.2%} · {self.created[:16].replace('T', ' ')}"


def runs_dir() -> Path:
    return Path(os.environ.get("CNN_RUNS_DIR") or ROOT / "runs")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise CnnError(
            f"{run_id!r} is not a run id: ids are lowercase letters, digits and dashes "
            "(see `python -m cnn runs` for the saved ones)."
        )
    return run_id


def clean_text(text: str, what: str, most: int, how: str) -> str:
    """User text for display (a run name, a nickname): printable, spaces collapsed, 1 to
    ``most`` characters of any script; ``what`` and ``how`` word the errors."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", str(text)) if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split())
    if not text:
        raise CnnError(f"{what} cannot be empty: {how}.")
    if len(text) > most:
        raise CnnError(f"{what} can have at most {most} characters; this one has {len(text)}.")
    return text


def clean_name(name: str) -> str:
    """A run's name."""
    return clean_text(name, "A run name", MAX_NAME, "type a few letters")


def save_run(
    result: TrainResult,
    name: str | None = None,
    root: Path | None = None,
    *,
    owner: str = "",
    owner_name: str = "",
    experiment: str = "",
    taught: dict | None = None,
    continued_from: str = "",
) -> RunInfo:
    """Save a finished or stopped run atomically; returns it as listed.

    ``owner`` is the owner key of the student who trained it (empty: the teacher's, e.g.
    from the command line), ``experiment`` the class experiment it answers, if any, and
    ``taught`` a fine-tune's before/after report (cnn.finetune)."""
    import keras as keras_module  # already imported by training; only for the version

    root = root or runs_dir()
    created = datetime.now(UTC)
    preset = preset_of(result.config) or "custom"
    run_id = f"{created:%Y%m%d-%H%M%S}-{_slug(preset)}-{secrets.token_hex(3)}"
    meta = {
        "format": FORMAT,
        "id": run_id,
        "name": clean_name(name or f"{preset} {created:%b %d %H:%M}"),
        "created": created.isoformat(timespec="seconds"),
        "status": "stopped" if result.stopped else "finished",
        "preset": preset,
        "summary": describe(result.config),
        "config": result.config.to_dict(),
        "history": result.history.to_dict(),
        "test": result.test.to_dict(),
        "steps": result.steps,
        "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds,
        "images_per_s": result.images_per_s,
        "parameters": result.parameters,
        "owner": owner,
        "owner_name": owner_name,
        "experiment": experiment,
        "taught": taught,
        "continued_from": continued_from,
        "versions": {
            "python": platform.python_version(),
            "keras": keras_module.__version__,
            "tensorflow": _version("tensorflow"),
            "numpy": _version("numpy"),
            **machine(),
        },
    }
    tmp = root / f".tmp-{run_id}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _sweep_leftovers(root)
        tmp.mkdir()
        result.model.save(tmp / MODEL_FILE)
        write_json(tmp / META_FILE, meta)
        _fsync_dir(tmp)
        os.rename(tmp, root / run_id)  # the moment the run appears, whole
        _fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CnnError(
            f"Could not save the run in {root} ({exc.strerror or exc}). Free some disk space or make the "
            "folder writable (or set CNN_RUNS_DIR to one that is); the trained model is still usable "
            "in this session and earlier runs are untouched."
        ) from None
    return read_run(root / run_id)


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run, newest first; damaged ones included, with the reason."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    # A link is listed (as damaged, to be deletable) but never followed out of the folder.
    runs = [
        read_run(p)
        for p in root.iterdir()
        if RUN_ID.fullmatch(p.name) and p.name != DRAWINGS_FOLDER and (p.is_symlink() or p.is_dir())
    ]
    for gone in {p for p in _read_cache if p.parent == root} - {r.path for r in runs}:
        _read_cache.pop(gone, None)  # deleted runs
    return sorted(runs, key=lambda r: (r.created, r.id), reverse=True)


# read_run's results by folder, with the files' stamps they were read at. Pages list the
# runs on every rerun (the Draw page on every stroke) and each run.json holds its whole
# per-step history: unchanged runs are not read and parsed again. Any rewrite (rename, a
# replaced model file) changes a stamp, since files are replaced, not edited in place.
_read_cache: dict[Path, tuple[tuple, RunInfo]] = {}


def _stamp(path: Path) -> tuple | None:
    try:
        # The folder itself unfollowed: a folder swapped for a link to it is read afresh.
        folder, meta, model = path.lstat(), (path / META_FILE).lstat(), (path / MODEL_FILE).lstat()
    except OSError:
        return None  # missing files: read (and report) it afresh each time
    return tuple((s.st_ino, s.st_mode, s.st_mtime_ns, s.st_size) for s in (folder, meta, model))


def read_run(path: Path) -> RunInfo:
    """The run in ``path`` (damaged, with the reason, if it cannot be used)."""
    stamp = _stamp(path)
    cached = _read_cache.get(path)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    info = _read_run(path)
    if stamp is not None:
        _read_cache[path] = (stamp, info)
    return info


def _read_run(path: Path) -> RunInfo:
    run_id = path.name
    try:
        if path.is_symlink():
            raise _Unusable("is a link: run folders are never followed out of the runs folder")
        meta_path = path / META_FILE
        if meta_path.is_symlink():
            raise _Unusable(f"{META_FILE} is a link, not a file")
        size = meta_path.stat().st_size
        if size > MAX_META_BYTES:
            raise _Unusable(
                f"{META_FILE} is {size / 1e6:.0f} MB, more than a run's record can be ({MAX_META_BYTES / 1e6:.0f} MB)"
            )
        info = _parse_meta(run_id, path, json.loads(meta_path.read_text(encoding="utf-8")))
    except _Unusable as exc:
        return RunInfo(id=run_id, path=path, damaged=str(exc))
    except FileNotFoundError:
        return RunInfo(id=run_id, path=path, damaged=f"{META_FILE} is missing")
    except (OSError, UnicodeDecodeError) as exc:
        return RunInfo(id=run_id, path=path, damaged=f"{META_FILE} cannot be read ({exc})")
    except ConfigError as exc:
        return RunInfo(id=run_id, path=path, damaged=f"{META_FILE} holds an invalid config ({exc})")
    except ValueError as exc:  # JSONDecodeError and the records' checks included
        return RunInfo(id=run_id, path=path, damaged=f"{META_FILE} is not valid ({str(exc)[:200]})")
    except (KeyError, TypeError, AttributeError) as exc:
        return RunInfo(id=run_id, path=path, damaged=f"{META_FILE} lacks or mistypes {str(exc)[:100]}")
    except (RecursionError, MemoryError) as exc:
        return RunInfo(
            id=run_id,
            path=path,
            damaged=f"{META_FILE} is nested too deeply or too large to read ({type(exc).__name__})",
        )
    model = path / MODEL_FILE
    if model.is_symlink() or not model.is_file():
        return replace(info, damaged=f"{MODEL_FILE} is missing")
    if not zipfile.is_zipfile(model):
        return replace(info, damaged=f"{MODEL_FILE} is not a Keras file")
    return info


class _Unusable(Exception):
    """Why a run folder cannot be read at all."""


def _parse_meta(run_id: str, path: Path, meta: Any) -> RunInfo:
    """run.json's fields, each checked for its type; raises on the first that is wrong."""
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    versions = meta.get("versions", {})
    return RunInfo(
        id=run_id,
        path=path,
        name=_text(meta["name"], "name"),
        created=_text(meta["created"], "created"),
        status=_text(meta["status"], "status"),
        preset=_text(meta.get("preset", "custom"), "preset"),
        summary=_text(meta.get("summary", ""), "summary"),
        config=TrainConfig.from_dict({**ADDED_LATER, **meta["config"]})
        if isinstance(meta["config"], dict)
        else _bad("config"),
        history=History.from_dict(meta.get("history", {})),
        test=TestMetrics.from_dict(meta["test"]),
        steps=int(number(meta.get("steps", 0), "steps")),
        train_seconds=number(meta.get("train_seconds", 0.0), "train_seconds"),
        eval_seconds=number(meta.get("eval_seconds", 0.0), "eval_seconds"),
        images_per_s=number(meta.get("images_per_s", 0.0), "images_per_s"),
        parameters=int(number(meta.get("parameters", 0), "parameters")),
        versions={str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {},
        owner=_text(meta.get("owner", ""), "owner"),
        owner_name=_text(meta.get("owner_name", ""), "owner_name"),
        experiment=_text(meta.get("experiment", ""), "experiment"),
        taught=meta["taught"] if isinstance(meta.get("taught"), dict) else None,
        continued_from=_text(meta.get("continued_from", ""), "continued_from"),
    )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} is not text")
    return value


def _bad(name: str):
    raise ValueError(f"{name} is not an object")


def get_run(run_id: str, root: Path | None = None) -> RunInfo:
    """A usable run by id; a missing or damaged one is a CnnError saying what to do."""
    path = (root or runs_dir()) / check_run_id(run_id)
    if not path.is_dir():
        raise CnnError(f"There is no saved run {run_id!r}; `python -m cnn runs` lists them.")
    info = read_run(path)
    if info.damaged:
        raise CnnError(f"Run {run_id!r} is damaged: {info.damaged}. Delete it and train a new one.")
    return info


def best_run(root: Path | None = None, runs: list[RunInfo] | None = None) -> RunInfo | None:
    """The run to use when none is named: the class model if set, else the most accurate.

    ``runs`` is a listing the caller already has (saves reading every run.json again)."""
    runs = [r for r in (list_runs(root) if runs is None else runs) if not r.damaged]
    chosen = class_model(root)
    for run in runs:
        if run.id == chosen:
            return run
    return max(runs, key=lambda r: (r.test_accuracy or 0.0, r.created), default=None)


def load_model(info: RunInfo) -> keras.Model:
    """The run's keras model, loaded in safe mode (no code from the file is run)."""
    from cnn import runtime

    keras = runtime.keras()
    try:
        model = keras.saving.load_model(info.model_path, compile=False, safe_mode=True)
        shapes = (tuple(model.input_shape), tuple(model.output_shape))
    except Exception as exc:  # keras raises many kinds for a bad file; all mean the same to the user
        raise CnnError(
            f"Run {info.id!r}: {MODEL_FILE} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}). "
            "Delete the run and train a new one."
        ) from None
    if shapes != ((None, 28, 28, 1), (None, 10)):
        raise CnnError(
            f"Run {info.id!r}: its model takes {shapes[0][1:]} and gives {shapes[1][1:]}, but a digit reader here "
            "takes a 28x28x1 image and gives 10 probabilities. Delete the run and train a new one."
        )
    return model


def rename_run(run_id: str, name: str, root: Path | None = None) -> RunInfo:
    info = get_run(run_id, root)
    name = clean_name(name)
    try:
        meta = json.loads((info.path / META_FILE).read_text(encoding="utf-8"))
        write_json(info.path / META_FILE, {**meta, "name": name})
    except OSError as exc:
        raise CnnError(f"Could not rename run {run_id!r} ({exc.strerror or exc}); is {info.path} writable?") from None
    return read_run(info.path)


def delete_run(run_id: str, root: Path | None = None) -> None:
    """Remove a run (damaged ones too): renamed away first, so it vanishes in one step."""
    root = root or runs_dir()
    path = root / check_run_id(run_id)
    if not (path.is_symlink() or path.is_dir()):
        raise CnnError(f"There is no saved run {run_id!r}; it may have been deleted already.")
    trash = root / f".trash-{run_id}-{secrets.token_hex(3)}"
    try:
        os.rename(path, trash)
    except OSError as exc:
        raise CnnError(f"Could not delete run {run_id!r} ({exc.strerror or exc}); is {root} writable?") from None
    if trash.is_symlink():
        trash.unlink()  # only the link: what it points at is not ours
    else:
        shutil.rmtree(trash, ignore_errors=True)
    if class_model(root) == run_id:
        set_class_model(None, root)


def class_model(root: Path | None = None) -> str | None:
    """The run a teacher marked as the class model, if any."""
    try:
        run_id = json.loads(((root or runs_dir()) / CLASS_MODEL_FILE).read_text(encoding="utf-8"))["run"]
        return check_run_id(run_id)
    except (OSError, ValueError, KeyError, TypeError, CnnError):
        return None


def set_class_model(run_id: str | None, root: Path | None = None) -> None:
    root = root or runs_dir()
    path = root / CLASS_MODEL_FILE
    if run_id is None:
        path.unlink(missing_ok=True)
        return
    get_run(run_id, root)  # only a usable run can be the class model
    try:
        write_json(path, {"run": run_id})
    except OSError as exc:
        raise CnnError(f"Could not mark the class model ({exc.strerror or exc}); is {root} writable?") from None


def write_json(path: Path, value: Any) -> None:
    """Write ``path`` atomically: a complete temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep_leftovers(root: Path) -> None:
    """Remove temporary and trash folders that a crash left behind long ago."""
    for p in root.iterdir():
        if p.name.startswith((".tmp-", ".trash-")) and time.time() - p.stat().st_mtime > LEFTOVER_AGE:
            shutil.rmtree(p, ignore_errors=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "run"


def machine() -> dict[str, str]:
    """What the run was trained on, for its model card."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": str(os.cpu_count() or 1), "system": f"{platform.system()} {platform.release()}"}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
