"""The class: who is who, and the settings the teacher controls.

Kept beside the runs (``CNN_RUNS_DIR``), written atomically like them, so every app
process sharing the runs folder sees the same class:

- ``people.json``: each student's nickname, keyed by their owner key (a hash of the secret
  token their browser keeps), so a nickname is claimed once and shown to others while the
  token never is;
- ``class.json``: the teacher's settings: a time budget per student job, and the class
  experiment (every knob locked but one or two, a question to answer).

The teacher's passcode and the roles themselves live in the UI (``ui/roles.py``); here
is what they act on.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cnn.config import TrainConfig
from cnn.errors import CnnError
from cnn.store import clean_text, runs_dir, write_json

PEOPLE_FILE, CLASS_FILE = "people.json", "class.json"
MAX_NICKNAME = 30
DEFAULT_BUDGET_MINUTES = 10.0
MAX_FREE_KNOBS = 2

_lock = threading.Lock()  # one writer per process; files are replaced atomically across processes


def new_token() -> str:
    """A student's secret: kept by their browser (in the page address), never shown to others."""
    return secrets.token_urlsafe(12)


def owner_key(token: str) -> str:
    """What runs and jobs record as their owner: a hash of the token, so nobody can act as
    another student by reading a run.json."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def clean_nickname(nickname: str) -> str:
    return clean_text(nickname, "A nickname", MAX_NICKNAME, "type the name your class knows you by")


def people(root: Path | None = None) -> dict[str, str]:
    """Owner key -> nickname, for everyone who chose one."""
    value = _read(root, PEOPLE_FILE)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def nickname_of(key: str, root: Path | None = None) -> str | None:
    return people(root).get(key)


def claim_nickname(key: str, nickname: str, root: Path | None = None) -> str:
    """Give ``key`` this nickname (changing theirs is allowed); refused if someone else has it."""
    nickname = clean_nickname(nickname)
    with _lock:
        everyone = people(root)
        taken = {v.casefold(): k for k, v in everyone.items()}
        if taken.get(nickname.casefold(), key) != key:
            raise CnnError(f"Someone in the class already goes by “{nickname}”: pick another nickname.")
        everyone[key] = nickname
        _write(root, PEOPLE_FILE, everyone)
    return nickname


@dataclass(frozen=True)
class Experiment:
    """The teacher's question: every knob fixed as in ``config`` except the ``free`` ones."""

    id: str
    question: str
    free: tuple[str, ...]
    config: TrainConfig
    started: float = field(default_factory=time.time)

    def locked(self, name: str) -> bool:
        return name not in self.free

    def apply(self, values: dict[str, Any]) -> dict[str, Any]:
        """A student's form values with every locked knob set to the experiment's."""
        fixed = self.config.to_dict()
        return {name: (value if name in self.free else fixed[name]) for name, value in values.items()}


@dataclass(frozen=True)
class ClassSettings:
    budget_minutes: float = DEFAULT_BUDGET_MINUTES  # the longest estimated job a student may start
    experiment: Experiment | None = None


def class_settings(root: Path | None = None) -> ClassSettings:
    """The teacher's settings; defaults when none were saved or the file is damaged."""
    value = _read(root, CLASS_FILE)
    try:
        budget = float(value.get("budget_minutes", DEFAULT_BUDGET_MINUTES))
        if not 0 < budget <= 24 * 60:
            raise ValueError(budget)
        raw = value.get("experiment")
        experiment = None
        if raw:
            experiment = Experiment(
                id=str(raw["id"]),
                question=str(raw["question"]),
                free=tuple(raw["free"]),
                config=TrainConfig.from_dict(raw["config"]),
                started=float(raw["started"]),
            )
        return ClassSettings(budget_minutes=budget, experiment=experiment)
    except (AttributeError, KeyError, TypeError, ValueError, CnnError):
        return ClassSettings()


def save_class_settings(settings: ClassSettings, root: Path | None = None) -> None:
    value: dict[str, Any] = {"budget_minutes": settings.budget_minutes, "experiment": None}
    if settings.experiment is not None:
        e = settings.experiment
        value["experiment"] = {**asdict(e), "free": list(e.free), "config": e.config.to_dict()}
    with _lock:
        _write(root, CLASS_FILE, value)


def start_experiment(question: str, free: list[str], config: TrainConfig, root: Path | None = None) -> Experiment:
    known = {f.name for f in fields(TrainConfig)}
    if not 1 <= len(free) <= MAX_FREE_KNOBS or not set(free) <= known:
        raise CnnError(f"Pick one or two settings for the students to choose (of: {', '.join(sorted(known))}).")
    question = " ".join(str(question).split())[:200] or f"What does {' and '.join(free)} do?"
    experiment = Experiment(id=secrets.token_hex(4), question=question, free=tuple(free), config=config)
    settings = class_settings(root)
    save_class_settings(ClassSettings(settings.budget_minutes, experiment), root)
    return experiment


def end_experiment(root: Path | None = None) -> None:
    save_class_settings(ClassSettings(class_settings(root).budget_minutes, None), root)


def _read(root: Path | None, name: str) -> Any:
    try:
        return json.loads(((root or runs_dir()) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}


def _write(root: Path | None, name: str, value: Any) -> None:
    root = root or runs_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_json(root / name, value)
    except OSError as exc:
        raise CnnError(f"Could not save the class's {name} ({exc.strerror or exc}); is {root} writable?") from None
