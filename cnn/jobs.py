"""Training jobs in a worker process, queued in a database beside the runs.

A class of thirty can all press Start: jobs wait in one first-in-first-out queue
(``CNN_MAX_QUEUED``, default 20) and at most ``CNN_MAX_JOBS`` (default 1: a 2-core
machine has no room for two) train at once, each in its own worker process, so a
training step never holds up a page of the web server. Each job belongs to the session
that submitted it; pages see only their own.

Where things live:

- ``jobs.db`` (SQLite, WAL) in the runs folder (or ``CNN_JOBS_DB``): table ``jobs`` (one
  row a job: its config, state, latest snapshot, stop request, outcome, saved run),
  ``history`` (each job's per-step history, appended in chunks by the worker while it
  trains), ``workers`` (one row a trainer slot: pid, host, heartbeat). Every web process
  of the machine shares it, so each sees every job and a restart loses none.
- Workers: ``python -m cnn worker``, started by the first web process that has a job
  waiting (``subprocess.Popen`` of the same Python, in its own session). A worker first
  claims one of ``CNN_MAX_JOBS`` slots in ``workers``, so a second web process cannot
  start a second trainer; it leaves when it has been idle ``CNN_WORKER_IDLE`` seconds.

How a job ends:

- Stop: the page sets ``stop_requested``; the worker reads it with each progress report
  (four a second) and stops after that step; the model so far is tested and saved.
- Nobody watching: pages call ``touch(owner)`` while they are open (every second, from the
  sidebar). A job whose owner has not been seen for ``CNN_ABANDON_AFTER`` seconds
  (default 120, i.e. its tab was closed) is stopped like that and saved, so nothing
  learned is lost; if it was still waiting in the queue it is cancelled.
- The server stopped: a web process that opens the queue finds running jobs whose
  worker is gone (its pid is dead or its heartbeat stale) and reports them ``interrupted``.
- The worker crashed: noticed the same way while the server runs; the job ``failed``
  with a message, and a new worker is started for the jobs still waiting.
- Saving failed (a full disk): the worker keeps the model in ``.pending-models/`` beside
  the database, and ``save(job)`` (the page's "Try saving again") saves it from there.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path

from cnn.config import TrainConfig
from cnn.errors import CnnError
from cnn.records import History, Snapshot, TestMetrics
from cnn.store import RunInfo, get_run, runs_dir, save_run

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHED, STOPPED, FAILED, CANCELLED, INTERRUPTED = (
    "queued",
    "running",
    "finished",
    "stopped",
    "failed",
    "cancelled",
    "interrupted",
)
ENDED = (FINISHED, STOPPED, FAILED, CANCELLED, INTERRUPTED)
TRAIN, MORE, TEACH = "train", "more", "teach"  # what a job does
KEEP_ENDED_PER_OWNER = 5  # ended jobs kept per owner (their runs are on disk)
DB_FILE, PENDING_DIR, WORKER_LOG = "jobs.db", ".pending-models", "jobs-worker.log"
HEARTBEAT = 1.0  # seconds between a worker's heartbeats
STALE_AFTER = 30.0  # a worker silent this long is gone (a live one beats every second)
MAINTAIN_EVERY = 1.0  # seconds between a web process's checks for dead workers
# A trainer yields the CPU to the web processes: a stroke's rerun is a few ms of work that
# must not wait behind a training step holding both cores. Training loses only what pages use.
WORKER_NICENESS = 10
RESPAWN_AFTER = 10.0  # seconds before a web process starts workers again (one that cannot start: no storm)
HISTORY_CACHE = 64  # jobs whose history a web process keeps parsed
HOST = socket.gethostname()

ABANDONED = "nobody was watching (the tab was closed)"
SHUTTING_DOWN = "the server is shutting down"
INTERRUPTED_MESSAGE = "The server stopped while this job was training; start it again."
CRASHED_MESSAGE = (
    "The trainer process stopped unexpectedly while training this job (it may have run out of memory, "
    "or been killed). Start it again; smaller settings need less memory."
)

ADDED_COLUMNS = {
    "kind": "TEXT NOT NULL DEFAULT 'train'",
    "base_run": "TEXT NOT NULL DEFAULT ''",
    "batch": "TEXT NOT NULL DEFAULT ''",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    n INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id TEXT UNIQUE NOT NULL,
    owner TEXT NOT NULL,
    owner_name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    name TEXT,
    config TEXT NOT NULL,                 -- TrainConfig JSON
    runs_root TEXT NOT NULL,              -- where its run is saved
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    last_seen REAL NOT NULL,              -- the owner's last touch (time.time())
    abandon_after REAL NOT NULL,
    snapshot TEXT,                        -- the latest Snapshot JSON
    history_chunks INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,                         -- Outcome JSON once trained
    stop_requested INTEGER NOT NULL DEFAULT 0,
    stop_reason TEXT,
    error TEXT,
    run_id TEXT,
    pending_model TEXT,                   -- the model file kept while its run is not saved
    worker_pid INTEGER,
    held INTEGER NOT NULL DEFAULT 0,      -- tests only: the worker holds it (see hold_at_step)
    kind TEXT NOT NULL DEFAULT 'train',   -- train | more (train base_run further) | teach (fine-tune base_run)
    base_run TEXT NOT NULL DEFAULT '',
    batch TEXT NOT NULL DEFAULT ''        -- jobs submitted together (one setting, several seeds): one student's turn
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS history (
    job_id TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    data TEXT NOT NULL,                   -- {History field: values appended since the last chunk}
    PRIMARY KEY (job_id, chunk)
);
CREATE TABLE IF NOT EXISTS workers (
    slot INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Outcome:
    """What a trained job measured: what the Train page shows, saved or not."""

    test: TestMetrics
    stopped: bool  # a stop request ended it early
    steps: int
    train_seconds: float
    eval_seconds: float
    images_per_s: float
    parameters: int

    def to_dict(self) -> dict:
        return {**asdict(self), "test": self.test.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> Outcome:
        return cls(**{**values, "test": TestMetrics.from_dict(values["test"])})


@dataclass
class Job:
    """A job as its database row said when it was read (ask the queue again for news)."""

    id: str
    owner: str  # the owner key of the student (or teacher) who started it
    config: TrainConfig
    name: str | None
    owner_name: str  # their nickname, shown in the queue
    experiment: str  # the class experiment it answers, if any
    state: str
    history: History  # grows while the job runs
    snapshot: Snapshot | None
    outcome: Outcome | None  # once trained
    run_id: str | None  # the saved run
    error: str | None  # why it failed or was interrupted, or why saving failed
    stop_reason: str | None
    stopping: bool  # a stop was asked for
    created: float
    runs_root: Path
    kind: str = TRAIN  # TRAIN, MORE (base_run trained further) or TEACH (base_run taught the class's drawings)
    base_run: str = ""
    batch: str = ""  # jobs queued together (one setting over several seeds)

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @cached_property
    def run(self) -> RunInfo | None:
        """The saved run (None until saved, or if it was deleted since)."""
        if self.run_id is None:
            return None
        try:
            return get_run(self.run_id, self.runs_root)
        except CnnError:
            return None


def default_db(runs_root: Path | None = None) -> Path:
    """``CNN_JOBS_DB``, else ``jobs.db`` in the runs folder."""
    return Path(os.environ.get("CNN_JOBS_DB") or (runs_root or runs_dir()) / DB_FILE)


# --- the database -----------------------------------------------------------------------------
class _Db:
    """One connection, shared by a process's threads under a lock; writes in short transactions."""

    def __init__(self, path: Path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
            have = {row[1] for row in self.conn.execute("PRAGMA table_info(jobs)")}
            for column, kind in ADDED_COLUMNS.items():  # a database made by an older version
                if column not in have:
                    self.conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        except (OSError, sqlite3.Error) as exc:
            raise CnnError(
                f"Cannot open the job database {path} ({exc}). Make its folder writable, or set CNN_JOBS_DB "
                "(or CNN_RUNS_DIR) to a writable place."
            ) from None
        self.lock = threading.RLock()

    @contextlib.contextmanager
    def write(self):
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _alive(pid: int, host: str) -> bool:
    """Whether a worker process still exists (only the heartbeat tells for another host)."""
    if host != HOST:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _sweep(c: sqlite3.Connection, state: str, message: str) -> int:
    """In a write transaction: forget dead workers, end their running jobs as ``state``; live workers."""
    now = time.time()
    workers = c.execute("SELECT slot, pid, host, heartbeat FROM workers").fetchall()
    dead = [w for w in workers if now - w["heartbeat"] > STALE_AFTER or not _alive(w["pid"], w["host"])]
    for w in dead:
        c.execute("DELETE FROM workers WHERE slot = ? AND pid = ?", (w["slot"], w["pid"]))
    live = {w["pid"] for w in workers} - {w["pid"] for w in dead}
    for job in c.execute("SELECT id, worker_pid FROM jobs WHERE state = ?", (RUNNING,)).fetchall():
        if job["worker_pid"] not in live:
            log.warning("job %s: its worker %s is gone (%s)", job["id"], job["worker_pid"], state)
            c.execute(
                "UPDATE jobs SET state = ?, error = ?, ended = ? WHERE id = ?",
                (state, message, now, job["id"]),
            )
    return len(live)


# --- what pages use: the queue ----------------------------------------------------------------
class JobQueue:
    """The web side: submit, follow, stop and touch jobs; start workers when jobs wait."""

    def __init__(
        self,
        workers: int = 1,
        max_queued: int = 20,
        abandon_after: float = 120.0,
        runs_root: Path | None = None,
        db_path: Path | None = None,
        idle_exit: float = 300.0,
    ):
        self.workers, self.max_queued, self.abandon_after = workers, max_queued, abandon_after
        self.runs_root = Path(runs_root or runs_dir())
        self.db_path = Path(db_path or default_db(self.runs_root))
        self.idle_exit = idle_exit
        self.db = _Db(self.db_path)
        self._children: list[subprocess.Popen] = []
        self._histories: dict[str, tuple[int, History]] = {}
        self._touched: dict[str, float] = {}
        self._last_maintained = 0.0
        self._last_spawned = -RESPAWN_AFTER
        self._spawning = threading.Lock()  # sessions' threads: one decides to start workers at a time
        with self.db.write() as c:  # a job that was training when the server died
            _sweep(c, INTERRUPTED, INTERRUPTED_MESSAGE)
        self._ensure_workers()

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
        kind: str = TRAIN,
        base_run: str = "",
    ) -> Job:
        """Queue a job; with ``one_at_a_time`` (students), refused while the owner already has
        one waiting or training, however many tabs (or web processes) they use. ``kind``: TRAIN
        a new model as ``config`` says, train ``base_run`` ``config.epochs`` MORE, or TEACH
        ``base_run`` the class's labelled drawings (cnn.finetune)."""
        (job,) = self._submit(owner, [(config, name)], owner_name, experiment, one_at_a_time, kind, base_run)
        return job

    def submit_repeats(
        self,
        owner: str,
        config: TrainConfig,
        seeds: int,
        name: str | None = None,
        *,
        owner_name: str = "",
        one_at_a_time: bool = True,
    ) -> list[Job]:
        """The same setting with ``seeds`` seeds (config.seed, +1, ...), queued together: one
        student's turn, however many runs (each one a job, in a row)."""
        name = name or "repeat"
        jobs = [(config.replace(seed=config.seed + k), f"{name} (seed {config.seed + k})"[:80]) for k in range(seeds)]
        return self.submit_batch(owner, jobs, owner_name=owner_name, one_at_a_time=one_at_a_time)

    def submit_batch(
        self,
        owner: str,
        jobs: list[tuple[TrainConfig, str]],
        *,
        owner_name: str = "",
        one_at_a_time: bool = True,
        tag: str = "",
    ) -> list[Job]:
        """Several (config, name) jobs queued together as one student's turn (repeats, a sweep);
        ``tag`` is recorded on their runs (as their experiment) so a chart can gather them."""
        return self._submit(owner, jobs, owner_name, tag, one_at_a_time, TRAIN, "", batch=secrets.token_hex(4))

    def _submit(self, owner, jobs, owner_name, experiment, one_at_a_time, kind, base_run, batch="") -> list[Job]:
        now, ids = time.time(), []
        with self.db.write() as c:
            if (
                one_at_a_time
                and c.execute(
                    "SELECT 1 FROM jobs WHERE owner = ? AND state IN (?, ?)", (owner, QUEUED, RUNNING)
                ).fetchone()
            ):
                raise CnnError(
                    "You already have a training job waiting or running: stop it, or let it finish, "
                    "before starting another."
                )
            (waiting,) = c.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (QUEUED,)).fetchone()
            if waiting + len(jobs) > self.max_queued:
                raise CnnError(
                    f"The training queue is full ({self.max_queued} jobs may wait). "
                    "Try again in a few minutes, or use a saved run meanwhile."
                )
            for config, name in jobs:
                ids.append(secrets.token_hex(4))
                c.execute(
                    "INSERT INTO jobs (id, owner, owner_name, experiment, name, config, runs_root, state, created, "
                    "last_seen, abandon_after, kind, base_run, batch) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ids[-1],
                        owner,
                        owner_name,
                        experiment,
                        name,
                        json.dumps(config.to_dict()),
                        str(self.runs_root),
                        QUEUED,
                        now,
                        now,
                        self.abandon_after,
                        kind,
                        base_run,
                        batch,
                    ),
                )
            self._prune(c, owner)
        self._ensure_workers()
        return [self.get(job_id) for job_id in ids]

    def get(self, job_id: str) -> Job | None:
        """The job as it is now (None once pruned)."""
        self._maintain()
        rows = self.db.read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._job(rows[0]) if rows else None

    def jobs_of(self, owner: str) -> list[Job]:
        """The owner's jobs, oldest first."""
        self._maintain()
        return [self._job(r) for r in self.db.read("SELECT * FROM jobs WHERE owner = ? ORDER BY n", (owner,))]

    def active(self) -> list[Job]:
        """Every job training or waiting, training first, then in queue order (who is waiting)."""
        self._maintain()
        rows = self.db.read("SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY state = ?, n", (QUEUED, RUNNING, QUEUED))
        return [self._job(r) for r in rows]

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 for the one after, ...; 0 once it is not waiting."""
        ((position,),) = self.db.read(
            "SELECT COUNT(*) FROM jobs WHERE state = ? AND n <= (SELECT n FROM jobs WHERE id = ? AND state = ?)",
            (QUEUED, job.id, QUEUED),
        )
        return position

    def stop(self, job: Job, reason: str = "stopped by you") -> None:
        """Stop a running job after its current step (it is kept), or cancel a waiting one."""
        with self.db.write() as c:
            cancelled = c.execute(
                "UPDATE jobs SET state = ?, stop_reason = ?, ended = ? WHERE id = ? AND state = ?",
                (CANCELLED, reason, time.time(), job.id, QUEUED),
            ).rowcount
            if not cancelled:
                c.execute(
                    "UPDATE jobs SET stop_requested = 1, stop_reason = COALESCE(stop_reason, ?) "
                    "WHERE id = ? AND state = ?",
                    (reason, job.id, RUNNING),
                )

    def touch(self, owner: str) -> None:
        """The owner's page is open: its jobs are being watched."""
        now = time.time()
        due = now - self._touched.get(owner, 0.0) >= min(2.0, self.abandon_after / 4)
        # (most sessions have no job: a read, and no write at all)
        if due and self.db.read("SELECT 1 FROM jobs WHERE owner = ? AND state IN (?, ?)", (owner, QUEUED, RUNNING)):
            self._touched[owner] = now
            with self.db.write() as c:
                c.execute(
                    "UPDATE jobs SET last_seen = ? WHERE owner = ? AND state IN (?, ?)", (now, owner, QUEUED, RUNNING)
                )
        self._maintain()

    def save(self, job: Job) -> RunInfo:
        """Save the job's run from the model its worker kept (to retry a save that failed: disk full, ...)."""
        from cnn import runtime
        from cnn.train import TrainResult

        with self.db.write() as c:  # claim the kept model: two tabs pressing "Try again" save one run
            row = c.execute("SELECT * FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if row is not None and row["run_id"]:
                return get_run(row["run_id"], Path(row["runs_root"]))
            if row is None or not row["pending_model"] or not row["outcome"]:
                raise CnnError("This job has no trained model to save (or it is being saved): train it again.")
            c.execute("UPDATE jobs SET pending_model = NULL WHERE id = ?", (job.id,))
        pending = Path(row["pending_model"])
        try:
            try:
                model = runtime.keras().saving.load_model(pending, compile=False)
            except Exception as exc:  # keras raises many kinds for a missing or bad file
                raise CnnError(
                    f"The trained model kept in {pending} cannot be read ({type(exc).__name__}); train it again."
                ) from None
            outcome = Outcome.from_dict(json.loads(row["outcome"]))
            result = TrainResult(
                config=TrainConfig.from_dict(json.loads(row["config"])),
                model=model,
                history=self._history(job.id, row["history_chunks"]),
                **{f.name: getattr(outcome, f.name) for f in fields(Outcome)},
            )
            run = save_run(
                result,
                row["name"],
                self.runs_root,
                owner=row["owner"],
                owner_name=row["owner_name"],
                experiment=row["experiment"],
            )
        except BaseException:
            with self.db.write() as c:  # still not saved: the model stays for the next try
                c.execute("UPDATE jobs SET pending_model = ? WHERE id = ?", (str(pending), job.id))
            raise
        with self.db.write() as c:
            c.execute(
                "UPDATE jobs SET run_id = ?, error = NULL, runs_root = ? WHERE id = ?",
                (run.id, str(self.runs_root), job.id),
            )
        pending.unlink(missing_ok=True)
        return run

    # --- for tests and process exit -------------------------------------------------
    def close(self) -> None:
        """Let go of the database (workers go on: they belong to the machine, not this process)."""
        self._reap_children()
        self.db.close()

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop everything on this database (tests, or taking the server down): waiting jobs are
        cancelled, running ones stop and are saved, then the workers leave."""
        with self.db.write() as c:
            c.execute(
                "UPDATE jobs SET state = ?, stop_reason = ?, ended = ? WHERE state = ?",
                (CANCELLED, SHUTTING_DOWN, time.time(), QUEUED),
            )
            c.execute(
                "UPDATE jobs SET stop_requested = 1, stop_reason = COALESCE(stop_reason, ?) WHERE state = ?",
                (SHUTTING_DOWN, RUNNING),
            )
            c.execute("DELETE FROM settings WHERE key = 'hold_at_step'")
        deadline = time.monotonic() + timeout
        while self.db.read("SELECT 1 FROM jobs WHERE state = ?", (RUNNING,)) and time.monotonic() < deadline:
            with self.db.write() as c:
                _sweep(c, FAILED, CRASHED_MESSAGE)
            self._reap_children()
            time.sleep(0.1)
        pids = {w["pid"] for w in self.db.read("SELECT pid, host FROM workers") if w["host"] == HOST}
        for pid in pids | {child.pid for child in self._children}:  # ours too: one still starting
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for child in self._children:
            try:
                child.wait(max(deadline - time.monotonic(), 5.0))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()
        self.db.close()

    def hold_at_step(self, step: int | None) -> None:
        """Tests only: workers hold a job at its first progress report from ``step`` on (its row
        says ``held``) until this is called again with None."""
        with self.db.write() as c:
            if step is None:
                c.execute("DELETE FROM settings WHERE key = 'hold_at_step'")
            else:
                c.execute("INSERT OR REPLACE INTO settings VALUES ('hold_at_step', ?)", (str(step),))

    def held(self) -> list[str]:
        """Tests only: the ids of the jobs a worker holds or has held."""
        return [r["id"] for r in self.db.read("SELECT id FROM jobs WHERE held = 1")]

    # --- inside ---------------------------------------------------------------------
    def _job(self, row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"],
            owner=row["owner"],
            config=TrainConfig.from_dict(json.loads(row["config"])),
            name=row["name"],
            owner_name=row["owner_name"],
            experiment=row["experiment"],
            state=row["state"],
            history=self._history(row["id"], row["history_chunks"]),
            snapshot=Snapshot.from_dict(json.loads(row["snapshot"])) if row["snapshot"] else None,
            outcome=Outcome.from_dict(json.loads(row["outcome"])) if row["outcome"] else None,
            run_id=row["run_id"],
            error=row["error"],
            stop_reason=row["stop_reason"],
            stopping=bool(row["stop_requested"]),
            created=row["created"],
            runs_root=Path(row["runs_root"]),
            kind=row["kind"],
            base_run=row["base_run"],
            batch=row["batch"],
        )

    def _history(self, job_id: str, chunks: int) -> History:
        """The job's history, reading only the chunks this process has not seen yet."""
        with self.db.lock:
            seen, history = self._histories.pop(job_id, (0, History()))
            if chunks > seen:
                rows = self.db.read(
                    "SELECT data FROM history WHERE job_id = ? AND chunk > ? AND chunk <= ? ORDER BY chunk",
                    (job_id, seen, chunks),
                )
                for r in rows:
                    for name, values in json.loads(r["data"]).items():
                        getattr(history, name).extend(values)
                seen = chunks
            self._histories[job_id] = (seen, history)  # the most recently read last
            while len(self._histories) > HISTORY_CACHE:
                del self._histories[next(iter(self._histories))]
            return history

    def _prune(self, c: sqlite3.Connection, owner: str) -> None:
        """Forget the owner's oldest ended jobs (not one whose model still waits to be saved)."""
        old = c.execute(
            "SELECT id FROM jobs WHERE owner = ? AND state IN (?, ?, ?, ?, ?) AND pending_model IS NULL "
            "ORDER BY n DESC LIMIT -1 OFFSET ?",
            (owner, *ENDED, KEEP_ENDED_PER_OWNER),
        ).fetchall()
        for r in old:
            c.execute("DELETE FROM history WHERE job_id = ?", (r["id"],))
            c.execute("DELETE FROM jobs WHERE id = ?", (r["id"],))

    def _maintain(self) -> None:
        """Now and then: end the jobs of crashed workers, and start workers for waiting jobs."""
        now = time.monotonic()
        if now - self._last_maintained < MAINTAIN_EVERY:
            return
        self._last_maintained = now
        self._reap_children()
        if self.db.read("SELECT 1 FROM workers UNION ALL SELECT 1 FROM jobs WHERE state = ? LIMIT 1", (RUNNING,)):
            with self.db.write() as c:  # (a write only while there are workers or running jobs)
                _sweep(c, FAILED, CRASHED_MESSAGE)
        self._ensure_workers()

    def _ensure_workers(self) -> None:
        """Start a worker if jobs wait and fewer than ``workers`` trainers exist (a worker that
        finds every slot taken, by another web process's say, leaves at once)."""
        with self._spawning:
            self._reap_children()
            ((waiting,),) = self.db.read("SELECT COUNT(*) FROM jobs WHERE state = ?", (QUEUED,))
            if not waiting or time.monotonic() - self._last_spawned < RESPAWN_AFTER:
                return
            registered = {r["pid"] for r in self.db.read("SELECT pid FROM workers")}
            starting = [p for p in self._children if p.pid not in registered]  # not yet in the table
            ((running,),) = self.db.read("SELECT COUNT(*) FROM jobs WHERE state = ?", (RUNNING,))
            missing = min(self.workers, running + waiting) - len(registered) - len(starting)
            for _ in range(missing):
                self._spawn()
            if missing > 0:
                self._last_spawned = time.monotonic()

    def _spawn(self) -> None:
        package_root = str(Path(__file__).resolve().parent.parent)  # the worker imports this same cnn
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "cnn", "worker", "--db", str(self.db_path)]
        command += ["--slots", str(self.workers), "--idle-exit", str(self.idle_exit)]
        with open(self.db_path.with_name(WORKER_LOG), "ab") as out:
            child = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        log.info("started training worker %s for %s", child.pid, self.db_path)
        self._children.append(child)

    def _reap_children(self) -> None:
        for child in self._children:
            if child.poll():  # (0: it left, idle or with every slot taken)
                log.error("training worker %s exited with %s; see %s", child.pid, child.returncode, WORKER_LOG)
        self._children = [p for p in self._children if p.returncode is None]


# --- the worker process -----------------------------------------------------------------------
class Worker:
    """One trainer: claims a slot, then takes queued jobs one at a time and trains them."""

    def __init__(self, db_path: Path, slots: int = 1):
        self.db = _Db(db_path)
        self.db_path, self.slots, self.pid = db_path, slots, os.getpid()
        self.slot: int | None = None
        self.quit = threading.Event()  # leave after the current job
        self.stop = threading.Event()  # the current job's stop (train's ``stop``)

    def claim_slot(self) -> bool:
        now = time.time()
        with self.db.write() as c:
            _sweep(c, FAILED, CRASHED_MESSAGE)
            taken = {r["slot"] for r in c.execute("SELECT slot FROM workers")}
            free = [s for s in range(self.slots) if s not in taken]
            if not free:
                return False
            self.slot = free[0]
            c.execute("INSERT INTO workers VALUES (?, ?, ?, ?)", (self.slot, self.pid, HOST, now))
        return True

    def release_slot(self) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM workers WHERE slot = ? AND pid = ?", (self.slot, self.pid))

    def run(self, idle_exit: float = 300.0) -> None:
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        idle_since = time.monotonic()
        while not self.quit.is_set():
            row = self._claim_job()
            if row is None:
                if time.monotonic() - idle_since > idle_exit:
                    return
                self.quit.wait(0.3)
                continue
            self._train(row)
            idle_since = time.monotonic()

    def leave(self) -> None:
        """SIGTERM: stop the current job after this step (it is saved), then leave."""
        self.quit.set()
        self.stop.set()

    def _beat(self) -> None:
        while not self.quit.wait(HEARTBEAT):
            try:
                with self.db.write() as c:
                    mine = c.execute(
                        "UPDATE workers SET heartbeat = ? WHERE slot = ? AND pid = ?",
                        (time.time(), self.slot, self.pid),
                    ).rowcount
                    _sweep(c, FAILED, CRASHED_MESSAGE)  # another slot's worker may have died
            except sqlite3.Error:
                log.exception("heartbeat")
                continue
            if not mine:  # declared dead (a very long stall): its job has been failed already
                log.error("worker %s lost its slot; leaving", self.pid)
                self.leave()

    def _claim_job(self) -> sqlite3.Row | None:
        now = time.time()
        with self.db.write() as c:
            while True:
                row = c.execute("SELECT * FROM jobs WHERE state = ? ORDER BY n LIMIT 1", (QUEUED,)).fetchone()
                if row is None:
                    return None
                if now - row["last_seen"] > row["abandon_after"]:  # nothing learned yet: nothing to lose
                    c.execute(
                        "UPDATE jobs SET state = ?, stop_reason = ?, ended = ? WHERE id = ?",
                        (CANCELLED, ABANDONED, now, row["id"]),
                    )
                    continue
                c.execute(
                    "UPDATE jobs SET state = ?, started = ?, worker_pid = ? WHERE id = ?",
                    (RUNNING, now, self.pid, row["id"]),
                )
                return row

    def _train(self, row: sqlite3.Row) -> None:
        from cnn.train import train

        job_id = row["id"]
        history = History()
        progress = _Progress(self, job_id, history)
        self.stop.clear()
        if self.quit.is_set():
            self.stop.set()
        progress.report(None)  # a stop asked for before the start trains nothing
        config, root, extra = TrainConfig.from_dict(json.loads(row["config"])), Path(row["runs_root"]), {}
        try:
            if row["kind"] == TEACH:
                from cnn import collection
                from cnn.finetune import finetune

                base = get_run(row["base_run"], root)
                result, report = finetune(
                    base, collection.list_drawings(root), on_progress=progress.report, stop=self.stop, history=history
                )
                extra = {"taught": {**report.to_dict(), "from": base.id}}
            else:
                base = get_run(row["base_run"], root) if row["kind"] == MORE else None
                result = train(config, on_progress=progress.report, stop=self.stop, history=history, start_from=base)
                extra = {"continued_from": base.id} if base else {}
        except CnnError as exc:
            self._end(job_id, FAILED, error=str(exc))
            return
        except Exception as exc:  # the page shows the message, the worker's log the trace
            log.exception("training job %s failed", job_id)
            self._end(job_id, FAILED, error=f"Training failed ({type(exc).__name__}: {exc}). Try other settings.")
            return
        progress.report(None)  # the last validation point
        outcome = Outcome(**{f.name: getattr(result, f.name) for f in fields(Outcome)})
        run_id = error = pending = None
        if result.steps:  # a job stopped before its first step learned nothing: nothing to save
            try:
                run_id = save_run(
                    result,
                    row["name"],
                    root,
                    owner=row["owner"],
                    owner_name=row["owner_name"],
                    experiment=row["experiment"],
                    **extra,
                ).id
            except CnnError as exc:
                error, pending = str(exc), self._keep(result.model, job_id)
        self._end(
            job_id,
            STOPPED if result.stopped else FINISHED,
            outcome=json.dumps(outcome.to_dict()),
            run_id=run_id,
            error=error,
            pending_model=pending,
        )
        del result
        from cnn import runtime

        runtime.keras().backend.clear_session()  # the next job starts from a clean graph
        gc.collect()

    def _keep(self, model, job_id: str) -> str | None:
        """The model of a run that could not be saved, in a file, so that a retry can save it."""
        path = self.db_path.parent / PENDING_DIR / f"{job_id}.keras"
        try:
            path.parent.mkdir(exist_ok=True)
            model.save(path)
        except OSError:
            log.exception("could not keep the model of job %s", job_id)
            return None
        return str(path)

    def _end(self, job_id: str, state: str, **values) -> None:
        values = {"state": state, "ended": time.time(), **values}
        columns = ", ".join(f"{k} = ?" for k in values)
        with self.db.write() as c:
            c.execute(
                f"UPDATE jobs SET {columns} WHERE id = ? AND worker_pid = ? AND state = ?",
                (*values.values(), job_id, self.pid, RUNNING),
            )


class _Progress:
    """The worker's ``on_progress``: writes the snapshot and the new history, reads stop and touch."""

    def __init__(self, worker: Worker, job_id: str, history: History):
        self.worker, self.job_id, self.history = worker, job_id, history
        self.sent = {f.name: 0 for f in fields(History)}  # values of each list already written
        self.chunks = 0

    def report(self, snapshot: Snapshot | None) -> None:
        delta = {name: getattr(self.history, name)[sent:] for name, sent in self.sent.items()}
        delta = {name: values for name, values in delta.items() if values}
        worker, stop = self.worker, self.worker.stop
        with worker.db.write() as c:
            if delta:
                self.chunks += 1
                c.execute("INSERT INTO history VALUES (?, ?, ?)", (self.job_id, self.chunks, json.dumps(delta)))
            mine = c.execute(
                "UPDATE jobs SET snapshot = COALESCE(?, snapshot), history_chunks = ? "
                "WHERE id = ? AND worker_pid = ? AND state = ?",
                (
                    json.dumps(snapshot.to_dict()) if snapshot else None,
                    self.chunks,
                    self.job_id,
                    worker.pid,
                    RUNNING,
                ),
            ).rowcount
            row = c.execute(
                "SELECT stop_requested, last_seen, abandon_after FROM jobs WHERE id = ?", (self.job_id,)
            ).fetchone()
            if not mine or row["stop_requested"]:  # (not mine: declared dead meanwhile, no longer its job)
                stop.set()
            elif time.time() - row["last_seen"] > row["abandon_after"]:
                c.execute(
                    "UPDATE jobs SET stop_requested = 1, stop_reason = COALESCE(stop_reason, ?) WHERE id = ?",
                    (ABANDONED, self.job_id),
                )
                stop.set()
            hold = c.execute("SELECT value FROM settings WHERE key = 'hold_at_step'").fetchone()
        for name, values in delta.items():
            self.sent[name] += len(values)
        if snapshot is not None and hold is not None and snapshot.step >= int(hold["value"]):
            self._hold()

    def _hold(self) -> None:
        """Tests only: wait here, mid-run, until the test lets go (``JobQueue.hold_at_step(None)``)."""
        db = self.worker.db
        with db.write() as c:
            c.execute("UPDATE jobs SET held = 1 WHERE id = ?", (self.job_id,))
        while db.read("SELECT 1 FROM settings WHERE key = 'hold_at_step'") and not self.worker.quit.is_set():
            time.sleep(0.05)


def stop_workers(db_path: Path, timeout: float = 60.0) -> None:
    """Ask this machine's workers on ``db_path`` to leave (SIGTERM: a running job stops after
    its step and is saved) and wait until they have, e.g. when the server is taken down."""
    if not db_path.exists():
        return
    db = _Db(db_path)
    try:
        pids = {w["pid"] for w in db.read("SELECT pid, host FROM workers") if w["host"] == HOST}
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(pid, HOST) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        db.close()


def run_worker(db_path: Path, slots: int = 1, idle_exit: float = 300.0) -> int:
    """``python -m cnn worker``: train queued jobs until idle for ``idle_exit`` s (or SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    os.nice(WORKER_NICENESS)
    worker = Worker(db_path, slots)
    if not worker.claim_slot():
        log.info("all %d trainer slots of %s are taken; leaving", slots, db_path)
        return 0
    signal.signal(signal.SIGTERM, lambda signum, frame: worker.leave())
    log.info("training jobs from %s (slot %d)", db_path, worker.slot)
    try:
        worker.run(idle_exit)
    finally:
        worker.release_slot()
    return 0


# --- the queue of this process ----------------------------------------------------------------
_queues: dict[Path, JobQueue] = {}
_queues_lock = threading.Lock()


def job_queue() -> JobQueue:
    """This process's queue for the runs folder (``CNN_RUNS_DIR``), sized from ``CNN_MAX_JOBS``,
    ``CNN_MAX_QUEUED``, ``CNN_ABANDON_AFTER``, ``CNN_WORKER_IDLE``."""
    root = runs_dir()
    with _queues_lock:
        queue = _queues.get(root)
        if queue is None:
            queue = _queues[root] = JobQueue(
                workers=_env_number("CNN_MAX_JOBS", 1, int),
                max_queued=_env_number("CNN_MAX_QUEUED", 20, int),
                abandon_after=_env_number("CNN_ABANDON_AFTER", 120.0, float),
                idle_exit=_env_number("CNN_WORKER_IDLE", 300.0, float),
                runs_root=root,
            )
        return queue


def shutdown_queues() -> None:
    """Shut down every queue ``job_queue`` opened (tests)."""
    with _queues_lock:
        queues = list(_queues.values())
        _queues.clear()
    for queue in queues:
        queue.shutdown()


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
