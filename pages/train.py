"""Train: pick the knobs, press Start, watch the curves live, stop any time, see the mistakes.

A thin view over cnn/: the form's values make a ``TrainConfig`` (its problems are shown
under their fields), Start hands it to the background job queue (``cnn.jobs``), a
fragment redraws the job's progress twice a second, and an ended job's test results
come from ``job.result``. The job outlives the page, so visiting Draw and coming back
finds it again (the session's latest job).
"""

from __future__ import annotations

import streamlit as st

from cnn import plots
from cnn.config import (ARCHITECTURES, DEFAULT_PRESET, PRESETS, SCHEDULES, ConfigError, TrainConfig, knob_range,
                        preset_of)
from cnn.data import load_mnist
from cnn.errors import CnnError
from cnn.jobs import CANCELLED, FAILED, QUEUED, Job, job_queue
from cnn.model import describe
from cnn.store import clean_name, rename_run
from cnn.train import Snapshot, TestMetrics
from pages.shared import owner

FORM_ORDER = (  # every TrainConfig field, as the form shows them
    "epochs", "filters", "dropout", "architecture", "conv_blocks", "batch_norm", "kernel_size", "dense_units",
    "batch_size", "learning_rate", "lr_schedule", "optimizer", "train_size", "validation_split", "seed",
    "augment", "shift", "rotation", "scale", "thickness",
)
KNOBS = ("epochs", "filters", "dropout")
SLIDER_STEPS = {"epochs": 1, "filters": 1, "dropout": 0.05, "shift": 0.01, "rotation": 1.0, "scale": 0.01,
                "thickness": 0.05, "validation_split": 0.01}
INPUT_STEPS = {"dense_units": 16, "batch_size": 16, "learning_rate": 1e-4, "train_size": 1000}
CUSTOM = "custom"
GALLERY, GALLERY_COLUMNS = 24, 8


# --- the form ------------------------------------------------------------------------------
def form_values() -> dict:
    return {name: st.session_state[name] for name in FORM_ORDER}


def apply_preset() -> None:
    """The preset picker moved: every knob takes the preset's value."""
    preset = PRESETS.get(st.session_state.preset)
    for name, value in (preset.to_dict().items() if preset else ()):
        st.session_state[name] = value


def follow_knobs() -> None:
    """A knob moved: the picker shows the preset the form now equals, or 'custom'."""
    try:
        st.session_state.preset = preset_of(TrainConfig(**form_values())) or CUSTOM
    except ConfigError:
        st.session_state.preset = CUSTOM


def field(name: str, problems: dict[str, str], disabled: bool = False) -> None:
    """The input for one TrainConfig field, its problem (if any) right under it."""
    meta = knob_range(name)
    label = meta["label"]
    common = {"key": name, "help": meta["help"], "on_change": follow_knobs, "disabled": disabled,
              "persist_state": "session"}
    if meta["choices"]:
        st.selectbox(label, meta["choices"], **common)
    elif isinstance(getattr(PRESETS[DEFAULT_PRESET], name), bool):
        st.checkbox(label, **common)
    elif name in SLIDER_STEPS:
        st.slider(label, meta["low"], meta["high"], step=SLIDER_STEPS[name], **common)
    else:
        st.number_input(label, meta["low"], meta["high"], step=INPUT_STEPS.get(name, 1),
                        format="%g" if name == "learning_rate" else None, **common)
    if name in problems:
        st.error(f"{label}: {problems[name]}")


def checked_form() -> tuple[TrainConfig | None, dict[str, str]]:
    """The config the form describes, or None and each problem keyed by field ('run_name' too)."""
    problems: dict[str, str] = {}
    config = None
    try:
        config = TrainConfig(**form_values())
    except ConfigError as exc:
        problems.update(exc.problems)
    if st.session_state.run_name.strip():
        try:
            clean_name(st.session_state.run_name)
        except CnnError as exc:
            problems["run_name"] = str(exc)
    return config, problems


def start() -> None:
    """Start pressed: queue the job before the page redraws, so the page shows it at once."""
    config, problems = checked_form()
    if problems or active(latest_job()):  # a stale or double click
        return
    try:
        job_queue().submit(owner(), config, st.session_state.run_name.strip() or None)
    except CnnError as exc:  # the queue is full
        st.session_state.start_error = str(exc)


# --- the job: live, then its results ----------------------------------------------------------
def latest_job() -> Job | None:
    jobs = job_queue().jobs_of(owner())
    return jobs[-1] if jobs else None


def active(job: Job | None) -> bool:
    return job is not None and not job.ended


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def progress_text(s: Snapshot) -> str:
    return (f"{s.fraction:.0%} · epoch {s.epoch}/{s.epochs} · step {s.step}/{s.total_steps} · "
            f"{s.images_per_s:,.0f} images/s · about {duration(s.eta)} left")


def curves(job: Job, key: str) -> None:
    if not job.history.step:
        return
    left, right = st.columns(2)
    left.plotly_chart(plots.training_curves(job.history, "loss"), key=f"{key}_loss")
    right.plotly_chart(plots.training_curves(job.history, "accuracy"), key=f"{key}_accuracy")


@st.fragment(run_every=0.5)
def live(job: Job) -> None:
    """Progress, the Stop button and the curves, redrawn twice a second while the job lasts."""
    if job.ended:
        st.rerun()  # the whole page, so the results section appears
    queue = job_queue()
    queue.touch(owner())  # someone is watching this job
    if job.state == QUEUED:
        st.info(f"Waiting for the trainer: number {queue.position(job)} in the queue.")
    elif job.snapshot is None:
        st.info("Starting: loading TensorFlow and building the model…")
    else:
        s = job.snapshot
        st.progress(s.fraction, text=progress_text(s))
        val = f", validation accuracy {s.val_accuracy:.1%}" if s.val_accuracy is not None else ""
        st.caption(f"This step: loss {s.loss:.3f}, accuracy {s.accuracy:.1%}{val}")
    stopping = job.stop_event.is_set()
    label = "Stopping after this step…" if stopping else "Cancel" if job.state == QUEUED else "Stop"
    st.button(label, key="stop", on_click=queue.stop, args=(job,), disabled=stopping,
              help="Ends training after the current step; the model so far is tested and saved.")
    curves(job, "live")


def saved(job: Job) -> None:
    """Where the run was saved (with renaming), or why it was not (with a retry)."""
    if job.run is None:
        st.error(job.error or "The run was not saved.")
        if st.button("Try saving again", key="save_again"):
            try:
                job_queue().save_again(job)
            except CnnError as exc:
                st.error(str(exc))
            else:
                st.rerun()
        return
    st.success(f"Saved as “{job.run.name}”: it now appears on the Draw page.")
    st.page_link("pages/draw.py", label="Draw a digit for it to read", icon="✍️")
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    new_name = name_col.text_input("Rename this run", value=job.run.name, key=f"rename_{job.run.id}",
                                   max_chars=80)
    if button_col.button("Rename", key="rename") and new_name.strip() != job.run.name:
        try:
            job.run = rename_run(job.run.id, new_name, job.run.path.parent)
        except CnnError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def gallery(test: TestMetrics) -> None:
    data = load_mnist()
    tiles = plots.confident_mistakes(test, data.x_test, data.y_test, limit=GALLERY)
    if not tiles:
        st.success("Not a single test digit was misread.")
        return
    st.markdown(f"**The {len(tiles)} mistakes it was surest about**: the true digit, what the model "
                "read, and how sure it was.")
    for start in range(0, len(tiles), GALLERY_COLUMNS):
        for col, (image, caption) in zip(st.columns(GALLERY_COLUMNS), tiles[start : start + GALLERY_COLUMNS]):
            col.image(image, caption=caption)


def results(job: Job) -> None:
    if job.state == FAILED:
        st.error(job.error)
        return
    if job.state == CANCELLED:
        st.info(f"The job was cancelled before it started ({job.stop_reason}).")
        return
    result = job.result
    if result.steps == 0:
        st.info(f"Stopped before the first step ({job.stop_reason}): nothing was learned, so nothing was saved.")
        return
    st.subheader("How it did on the 10,000 test digits")
    if result.stopped:
        total = job.config.epochs * job.config.steps_per_epoch
        st.warning(f"Stopped after step {result.steps} of {total} ({job.stop_reason or 'stop requested'}): "
                   "the model as it was then has been tested and saved.")
    saved(job)
    test = result.test
    acc, loss, mistakes, seconds = st.columns(4)
    acc.metric("Test accuracy", f"{test.accuracy:.2%}")
    loss.metric("Test loss", f"{test.loss:.3f}")
    mistakes.metric("Mistakes", f"{len(test.misclassified):,}", help="test digits it misread, of 10,000")
    seconds.metric("Training time", duration(result.train_seconds),
                   help=f"{result.images_per_s:,.0f} images per second")
    curves(job, "final")
    left, right = st.columns(2)
    left.markdown("**Confusion matrix**: each row a true digit, each column what the model read")
    left.plotly_chart(plots.confusion_heatmap(test.confusion), key="confusion")
    right.markdown("**Accuracy for each digit**")
    right.plotly_chart(plots.per_class_bars(test.per_class_accuracy), key="per_class")
    gallery(test)


# --- the page --------------------------------------------------------------------------------
for name, value in PRESETS[DEFAULT_PRESET].to_dict().items():
    st.session_state.setdefault(name, value)
st.session_state.setdefault("preset", DEFAULT_PRESET)
st.session_state.setdefault("run_name", "")
config, problems = checked_form()
job = latest_job()
busy = active(job)

st.title("Train a network")
st.write("Choose how long to train and how big the network is, press **Start**, and watch it learn. "
         "Stop whenever you like: what it has learned so far is kept.")
st.selectbox("Start from", [*PRESETS, CUSTOM], key="preset", on_change=apply_preset, persist_state="session",
             help="A preset sets every knob below; change any of them afterwards.")
for column, name in zip(st.columns(len(KNOBS)), KNOBS):
    with column:
        field(name, problems)
with st.expander("Advanced", expanded=any(name not in KNOBS for name in problems)):
    layout, fitting, augmenting = st.columns(3)
    compact = st.session_state.architecture == "compact"
    with layout:
        field("architecture", problems)
        st.caption(ARCHITECTURES[st.session_state.architecture])
        field("conv_blocks", problems, disabled=not compact)
        field("batch_norm", problems, disabled=not compact)
        field("kernel_size", problems)
        field("dense_units", problems, disabled=st.session_state.architecture == "tutorial")
    with fitting:
        for name in ("batch_size", "learning_rate", "lr_schedule", "optimizer"):
            field(name, problems)
        st.caption(f"Schedule: {SCHEDULES[st.session_state.lr_schedule]}")
        for name in ("train_size", "validation_split", "seed"):
            field(name, problems)
    with augmenting:
        field("augment", problems)
        for name in ("shift", "rotation", "scale", "thickness"):
            field(name, problems, disabled=not st.session_state.augment)

if config is not None:
    st.markdown(f"**Model:** {describe(config)}")
    st.caption(f"{config.epochs} epoch{'s' * (config.epochs > 1)} × {config.steps_per_epoch} steps of "
               f"{config.batch_size} images; {config.fit_images:,} training and {config.validation_images:,} "
               "validation images.")
else:
    st.markdown("**Model:** fix the settings marked in red to see it.")

name_col, start_col = st.columns([3, 1], vertical_alignment="bottom")
with name_col:
    st.text_input("Run name", key="run_name", max_chars=80, placeholder="automatic: the preset and the time",
                  persist_state="session")
    if "run_name" in problems:
        st.error(f"Run name: {problems['run_name']}")
start_col.button("Start training", key="start", type="primary", disabled=bool(problems) or busy, on_click=start)
if "start_error" in st.session_state:
    st.error(st.session_state.pop("start_error"))
if problems:
    st.caption("Start is off until the settings marked in red are fixed: "
               + ", ".join(knob_range(name)["label"] if name != "run_name" else "Run name" for name in problems) + ".")
elif busy:
    st.caption("Your network is training: stop it (or let it finish) to start another.")
queue = job_queue()
st.caption(f"Training runs on the server, in one queue shared by everyone using this app: {queue.workers} "
           f"job{'s' if queue.workers != 1 else ''} at a time, the others wait their turn. You can visit the "
           f"Draw page meanwhile. If you close the tab, a running job is stopped {queue.abandon_after:.0f} s later "
           "and still saved with what it learned; a job still waiting is cancelled.")

if job is not None:
    st.divider()
    if job.ended:
        results(job)
    else:
        live(job)
