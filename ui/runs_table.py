"""The runs table and what else the Compare page shows, as plain data (tests check it directly).

- ``leaderboard``: one row per saved run, most accurate first, with the settings that
  differ between runs as columns (epochs, filters and dropout always);
- ``differences``: the settings that differ among a few chosen runs, side by side;
- ``curve``: a run's loss and accuracy on a common x axis (step, epoch or seconds);
- ``what_mattered``: test accuracy against each setting that varies, one point per run;
- ``run_zip``: a run's ``model.keras`` and ``run.json`` as the bytes of a zip file.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from cnn import card
from cnn.config import TrainConfig, knob_range
from cnn.errors import CnnError
from cnn.store import META_FILE, MODEL_FILE, RunInfo

ALWAYS = ("epochs", "filters", "dropout")  # the knobs everyone sees: always a column
SETTINGS = tuple(f.name for f in fields(TrainConfig))  # in the Train page's order
X_AXES = {"step": "training step", "epoch": "epoch", "time": "seconds of training"}


def label(setting: str) -> str:
    """A setting's name for people: ``batch_size`` -> 'batch size'."""
    return knob_range(setting)["label"].lower()


def shown(value: Any) -> str:
    """A setting's value as text (tables mixing numbers, words and yes/no need one type)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def varying(runs: Sequence[RunInfo]) -> list[str]:
    """The settings on which at least two of ``runs`` differ, in TrainConfig order."""
    configs = [run.config for run in runs]
    return [name for name in SETTINGS if len({getattr(c, name) for c in configs}) > 1]


def names(runs: Sequence[RunInfo]) -> list[str]:
    """The runs' names, made unique (a second "test" becomes "test (2)") to head table columns."""
    seen: dict[str, int] = {}
    out = []
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        out.append(run.name if seen[run.name] == 1 else f"{run.name} ({seen[run.name]})")
    return out


def leaderboard(
    runs: Sequence[RunInfo], class_model: str | None = None, scores: dict[str, dict[str, float | None]] | None = None
) -> list[dict[str, Any]]:
    """One row per usable run, the most accurate first.

    Columns: rank, name, by (nickname), class_model (bool), preset, epochs, filters, dropout, every other
    setting that varies, parameters, test_accuracy (0-1), then each of ``scores[run.id]`` (e.g.
    drawn_accuracy, class_accuracy), train_seconds, images_per_s, status, created (a datetime, or
    None), id.
    """
    runs = [run for run in runs if not run.damaged]
    knobs = [*ALWAYS, *(name for name in varying(runs) if name not in ALWAYS)]
    ordered = sorted(runs, key=lambda r: (-(r.test_accuracy or 0.0), r.created))
    rows = []
    for rank, run in enumerate(ordered, start=1):
        rows.append(
            {
                "rank": rank,
                "name": run.name,
                "by": run.owner_name,
                "class_model": run.id == class_model,
                "preset": run.preset,
                **{name: getattr(run.config, name) for name in knobs},
                "parameters": run.parameters,
                "test_accuracy": run.test_accuracy,
                **(scores or {}).get(run.id, {}),
                "train_seconds": run.train_seconds,
                "images_per_s": run.images_per_s,
                "status": run.status,
                "created": _date(run.created),
                "id": run.id,
            }
        )
    return rows


def differences(runs: Sequence[RunInfo]) -> list[dict[str, str]]:
    """The settings that differ among ``runs``: one row per setting, one column per run (by name)."""
    heads = names(runs)
    configs = [run.config for run in runs]
    return [
        {"setting": label(name), **{head: shown(getattr(c, name)) for head, c in zip(heads, configs)}}
        for name in varying(runs)
    ]


@dataclass
class Curve:
    """One run's training curves, its x values already on the chosen axis."""

    name: str
    x: list[float]
    loss: list[float]
    accuracy: list[float]
    val_x: list[float]
    val_loss: list[float]
    val_accuracy: list[float]


def curve(run: RunInfo, axis: str = "step", name: str | None = None) -> Curve | None:
    """``run``'s curves with x by ``axis`` ('step', 'epoch' or 'time'); None if it has no such data.

    The epoch position of a step is step / steps_per_epoch: every full epoch has exactly that
    many steps, while the last "epoch end" of a stopped run marks a partial epoch.
    """
    if axis not in X_AXES:
        raise ValueError(f"axis must be one of {', '.join(X_AXES)}, not {axis!r}")
    h = run.history
    per_epoch = run.config.steps_per_epoch
    x = {"step": h.step, "epoch": [s / per_epoch for s in h.step], "time": h.time}[axis]
    val_x = {"step": h.val_step, "epoch": [s / per_epoch for s in h.val_step], "time": h.val_time}[axis]
    n, m = len(h.step), len(h.val_step)
    if not n or len(x) != n or len(h.loss) < n or len(h.accuracy) < n or len(val_x) != m:
        return None  # a run saved before its history had this axis (or with no steps)
    return Curve(
        name=name or run.name,
        x=list(x),
        loss=h.loss[:n],
        accuracy=h.accuracy[:n],
        val_x=list(val_x),
        val_loss=h.val_loss[:m],
        val_accuracy=h.val_accuracy[:m],
    )


@dataclass
class Point:
    """One run in a what-mattered scatter."""

    name: str
    value: Any  # the setting's value (yes/no for switches)
    test_accuracy: float
    setting: str = ""  # runs with the same every knob but the seed share it (their mean is drawn)


def _setting(run: RunInfo) -> str:
    return repr(run.config.replace(seed=0))


def what_mattered(runs: Sequence[RunInfo]) -> dict[str, list[Point]]:
    """For each setting that varies across the usable runs: (run, value, test accuracy) points."""
    runs = [run for run in runs if not run.damaged]
    return {
        name: [Point(run.name, plotted(run, name), run.test_accuracy or 0.0, _setting(run)) for run in runs]
        for name in varying(runs)
    }


def experiment_points(runs: Sequence[RunInfo], free: Sequence[str]) -> dict[str, list[Point]]:
    """For a class experiment's chart: each free knob's value against test accuracy, one point
    per run, named after the student who trained it."""
    return {
        name: [
            Point(run.owner_name or run.name, plotted(run, name), run.test_accuracy or 0.0, _setting(run))
            for run in runs
        ]
        for name in free
    }


def plotted(run: RunInfo, name: str) -> Any:
    """A setting's value as a chart axis takes it (switches as yes/no)."""
    v = getattr(run.config, name)
    return shown(v) if isinstance(v, bool) else v


def zip_name(run: RunInfo) -> str:
    return f"{run.id}.zip"


def run_zip(run: RunInfo, facts: dict | None = None) -> bytes:
    """``model.keras``, ``run.json`` and the model card (``facts`` from cnn.card, as
    MODEL_CARD.md and model_card.json) in a folder named after the run id, as zip bytes:
    unzipped into another copy's runs folder, the run appears there."""
    buffer = io.BytesIO()
    try:
        with zipfile.ZipFile(buffer, "w") as z:
            # model.keras is a zip already: stored as is; run.json compresses well.
            z.write(run.path / MODEL_FILE, f"{run.id}/{MODEL_FILE}", compress_type=zipfile.ZIP_STORED)
            z.write(run.path / META_FILE, f"{run.id}/{META_FILE}", compress_type=zipfile.ZIP_DEFLATED)
            if facts is not None:
                z.writestr(f"{run.id}/MODEL_CARD.md", card.markdown(facts), compress_type=zipfile.ZIP_DEFLATED)
                z.writestr(f"{run.id}/model_card.json", json.dumps(facts, indent=2), compress_type=zipfile.ZIP_DEFLATED)
    except OSError as exc:
        raise CnnError(
            f"Could not read run {run.id!r} to download it ({exc.strerror or exc}); "
            "it may have been deleted meanwhile: reload the page."
        ) from None
    return buffer.getvalue()


def _date(created: str) -> datetime | None:
    try:
        return datetime.fromisoformat(created)
    except ValueError:
        return None
