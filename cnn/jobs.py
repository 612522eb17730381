"""Training jobs in the background, bounded across every session of one server.

A class of thirty can all press Start: jobs wait in one first-in-first-out queue
(``CNN_MAX_QUEUED``, default 20) and at most ``CNN_MAX_JOBS`` (default 1: a 2-core
machine has no room for two) train at once, in worker threads. Each job belongs to
the session that submitted it; pages see only their own.

Nobody watching: pages call ``touch(owner)`` while they are open (every second, from
the sidebar). A job whose owner has not been seen for ``CNN_ABANDON_AFTER`` seconds
(default 120, i.e. its tab was closed) is stopped at its next step if it is running,
and then evaluated and saved like any stopped run, so nothing learned is lost; if it
was still waiting in the queue it is cancelled, since nothing was learned yet.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cnn.config import TrainConfig
from cnn.data import Mnist
from cnn.errors import CnnError
from cnn.records import History, Snapshot
from cnn.store import RunInfo, save_run
from cnn.train import TrainResult, train

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, STOPPED, FAILED, CANCELLED = (
    "queued",
    "running",
    "finished",
    "stopped",
    "failed",
    "cancelled",
)
ENDED = (FINISHED, STOPPED, FAILED, CANCELLED)
KEEP_ENDED_PER_OWNER = 5  # ended jobs kept in memory per session (their runs are on disk)


@dataclass
class Job:
    id: str
    owner: str  # the owner key of the student (or teacher) who started it
    config: TrainConfig
    name: str | None = None
    owner_name: str = ""  # their nickname, shown in the queue
    experiment: str = ""  # the class experiment it answers, if any
    state: str = QUEUED
    history: History = field(default_factory=History)  # grows while the job runs
    snapshot: Snapshot | None = None
    result: TrainResult | None = None  # kept so the model stays usable if saving failed
    run: RunInfo | None = None  # the saved run
    error: str | None = None  # why it failed, or why saving failed
    stop_reason: str | None = None
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ended(self) -> bool:
        return self.state in ENDED


class JobQueue:
    def __init__(
        self,
        workers: int = 1,
        max_queued: int = 20,
        abandon_after: float = 120.0,
        data: Mnist | None = None,
        runs_root: Path | None = None,
    ):
        self.workers, self.max_queued, self.abandon_after = workers, max_queued, abandon_after
        self.data, self.runs_root = data, runs_root
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    # --- what pages call ------------------------------------------------------------
    def submit(
        self,
        owner: str,
        config: TrainConfig,
        name: str | None = None,
        *,
        owner_name: str = "",
        experiment: str = "",
        one_at_a_time: bool = True,
    ) -> Job:
        """Queue a job; with ``one_at_a_time`` (students), refused while the owner already has
        one waiting or training, however many tabs they use."""
        with self._cond:
            if one_at_a_time and any(j.owner == owner and not j.ended for j in self._jobs.values()):
                raise CnnError(
                    "You already have a training job waiting or running: stop it, or let it finish, "
                    "before starting another."
                )
            if len(self._waiting) >= self.max_queued:
                raise CnnError(
                    f"The training queue is full ({self.max_queued} jobs waiting). "
                    "Try again in a few minutes, or use a saved run meanwhile."
                )
            job = Job(
                id=secrets.token_hex(4),
                owner=owner,
                config=config,
                name=name,
                owner_name=owner_name,
                experiment=experiment,
            )
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._prune(owner)
            self._start_workers()
            self._cond.notify()
        return job

    def jobs_of(self, owner: str) -> list[Job]:
        """The session's jobs, oldest first."""
        with self._cond:
            return [j for j in self._jobs.values() if j.owner == owner]

    def active(self) -> list[Job]:
        """Every job training or waiting, training first, then in queue order (who is waiting)."""
        with self._cond:
            running = [j for j in self._jobs.values() if j.state == RUNNING]
            return running + list(self._waiting)

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 for the one after, ...; 0 once it is not waiting."""
        with self._cond:
            return next((i + 1 for i, j in enumerate(self._waiting) if j is job), 0)

    def stop(self, job: Job, reason: str = "stopped by you") -> None:
        """Stop a running job after its current step (it is kept), or cancel a waiting one."""
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                job.state, job.stop_reason = CANCELLED, reason
                return
        if job.stop_reason is None:
            job.stop_reason = reason
        job.stop_event.set()

    def touch(self, owner: str) -> None:
        """The owner's page is open: its jobs are being watched."""
        now = time.monotonic()
        for job in self.jobs_of(owner):
            job.last_seen = now

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop everything (for tests and process exit): running jobs stop and are saved."""
        with self._cond:
            for job in list(self._waiting):
                job.state, job.stop_reason = CANCELLED, "the server is shutting down"
            self._waiting.clear()
            running = [j for j in self._jobs.values() if j.state == RUNNING]
            self.workers = 0
            self._cond.notify_all()
        for job in running:
            self.stop(job, "the server is shutting down")
        for t in self._threads:
            t.join(timeout)

    # --- the workers ----------------------------------------------------------------
    def _start_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._work, name=f"train-worker-{len(self._threads)}", daemon=True)
            t.start()
            self._threads.append(t)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and self.workers:
                    self._cond.wait()
                if not self.workers:
                    return
                job = self._waiting.popleft()
                if self._abandoned(job):
                    job.state, job.stop_reason = CANCELLED, "nobody was watching (the tab was closed)"
                    continue
                job.state = RUNNING
            self._run(job)

    def _run(self, job: Job) -> None:
        def on_progress(snapshot: Snapshot) -> None:
            job.snapshot = snapshot
            if self._abandoned(job):
                self.stop(job, "nobody was watching (the tab was closed)")

        try:
            job.result = train(
                job.config, data=self.data, on_progress=on_progress, stop=job.stop_event, history=job.history
            )
        except CnnError as exc:
            job.state, job.error = FAILED, str(exc)
            return
        except Exception as exc:  # keep the worker alive; the page shows the message, the log the trace
            log.exception("training job %s failed", job.id)
            job.state, job.error = FAILED, f"Training failed ({type(exc).__name__}: {exc}). Try other settings."
            return
        if job.result.steps:  # a job stopped before its first step learned nothing: nothing to save
            try:
                self.save(job)
            except CnnError as exc:
                job.error = str(exc)
        job.state = STOPPED if job.result.stopped else FINISHED  # last: an ended job is saved (or says why not)

    def save(self, job: Job) -> RunInfo:
        """Save the job's run, as its owner's (also to retry a save that failed: disk full, ...)."""
        if job.result is None:
            raise CnnError("This job has no trained model to save.")
        job.run = save_run(
            job.result, job.name, self.runs_root, owner=job.owner, owner_name=job.owner_name, experiment=job.experiment
        )
        job.error = None
        return job.run

    def _abandoned(self, job: Job) -> bool:
        return time.monotonic() - job.last_seen > self.abandon_after

    def _prune(self, owner: str) -> None:
        ended = [j for j in self._jobs.values() if j.owner == owner and j.ended]
        for job in ended[:-KEEP_ENDED_PER_OWNER]:
            del self._jobs[job.id]


_queue: JobQueue | None = None
_queue_lock = threading.Lock()


def job_queue() -> JobQueue:
    """The process-wide queue, sized from ``CNN_MAX_JOBS``, ``CNN_MAX_QUEUED``, ``CNN_ABANDON_AFTER``."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = JobQueue(
                workers=_env_number("CNN_MAX_JOBS", 1, int),
                max_queued=_env_number("CNN_MAX_QUEUED", 20, int),
                abandon_after=_env_number("CNN_ABANDON_AFTER", 120.0, float),
            )
        return _queue


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise CnnError(f"{name}={raw!r} is not a number; unset it or give e.g. {name}={default}.") from None
    if value <= 0:
        raise CnnError(f"{name} must be positive (got {raw}).")
    return value
