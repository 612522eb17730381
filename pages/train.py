"""Train: pick the knobs, press Start, watch the curves live, stop any time, see the mistakes.

A thin view over cnn/: the form's values make a ``TrainConfig`` (its problems are shown
under their fields), Start hands it to the job queue (``cnn.jobs``: a worker process
trains it), a fragment redraws the job's progress twice a second, and an ended job's test
results come from what the worker recorded (``job.outcome``) and its saved run
(``job.run``). The job outlives the page, so visiting Draw and coming back, or reloading,
finds it again (the session's latest job).
"""

from __future__ import annotations

import secrets

import streamlit as st

from cnn import budget, classroom, repeats, scores
from cnn.config import (
    ARCHITECTURES,
    DEFAULT_PRESET,
    GROUPS,
    PRECISIONS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    applies,
    knob_range,
    knobs_in,
    preset_of,
)
from cnn.data import load_mnist
from cnn.errors import CnnError
from cnn.jobs import CANCELLED, FAILED, INTERRUPTED, MORE, TEACH, Job, job_queue
from cnn.model import describe
from cnn.records import TestMetrics
from cnn.store import clean_name, list_runs, rename_run
from ui import charts, runs_table
from ui.frame import enter_app_frame
from ui.job_progress import budget_problem, curves, duration, follow_job, start_job, start_repeats, start_sweep
from ui.session import is_teacher, owner
from ui.text import md

enter_app_frame()

FORM_FIELDS = [name for group in GROUPS for name in knobs_in(group)]
CHOICE_NOTES = {
    "architecture": ARCHITECTURES,
    "lr_schedule": SCHEDULES,
    "precision": PRECISIONS,
}  # a line under the picker
CUSTOM = "custom"
SWEEP, NO_KNOB = "sweep:", "none"  # a sweep's runs carry "sweep:<knobs>:<id>" as their experiment
OTHER_PROBLEMS = {"run_name": "Run name", "budget": "the time budget"}  # problems that are not a knob's
GALLERY, GALLERY_COLUMNS = 24, 8


# --- the form ------------------------------------------------------------------------------
def form_values() -> dict:
    return {name: st.session_state[name] for name in FORM_FIELDS}


def apply_preset() -> None:
    """The preset picker moved: every knob takes the preset's value."""
    preset = PRESETS.get(st.session_state.preset)
    for name, value in preset.to_dict().items() if preset else ():
        st.session_state[name] = value


def follow_knobs() -> None:
    """A knob moved: the picker shows the preset the form now equals, or 'custom'."""
    try:
        st.session_state.preset = preset_of(TrainConfig(**form_values())) or CUSTOM
    except ConfigError:
        st.session_state.preset = CUSTOM


def field(name: str, problems: dict[str, str]) -> None:
    """The input for one TrainConfig field, its problem (if any) right under it; greyed out
    where it does not apply (conv blocks for a layout without them, say)."""
    meta = knob_range(name)
    label = meta["label"]
    common = {
        "key": name,
        "help": meta["help"],
        "on_change": follow_knobs,
        "persist_state": "session",
        "disabled": not applies(name, st.session_state) or (experiment is not None and experiment.locked(name)),
    }
    if meta["choices"]:
        st.selectbox(label, meta["choices"], **common)
        if name in CHOICE_NOTES:
            st.caption(CHOICE_NOTES[name][st.session_state[name]])
    elif isinstance(getattr(PRESETS[DEFAULT_PRESET], name), bool):
        st.checkbox(label, **common)
    elif meta["slider"]:
        st.slider(label, meta["low"], meta["high"], step=meta["step"], **common)
    else:
        st.number_input(
            label,
            meta["low"],
            meta["high"],
            step=meta["step"],
            format="%g" if name == "learning_rate" else None,
            **common,
        )
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
    if config is not None and (over := budget_problem(config)):
        problems["budget"] = over
    return config, problems


def start() -> None:
    """Start pressed: queue the job before the page redraws, so the page shows it at once."""
    config, problems = checked_form()
    if problems or active(latest_job()):  # a stale or double click
        return
    name, seeds = st.session_state.run_name.strip() or None, st.session_state.get("seeds", 1)
    try:
        if seeds > 1 and experiment is None:
            start_repeats(config, seeds, name)
        else:
            start_job(config, name, experiment.id if experiment else "")
    except CnnError as exc:  # the queue is full, or a job from another tab
        st.session_state.start_error = str(exc)


# --- the job: live, then its results ----------------------------------------------------------
def latest_job() -> Job | None:
    """The job to show: the one training or next to (of several seeds queued together), else the last."""
    jobs = job_queue().jobs_of(owner())
    waiting = [j for j in jobs if not j.ended]
    return waiting[0] if waiting else jobs[-1] if jobs else None


def _start_sweep() -> None:
    state = st.session_state
    config, problems = checked_form()
    if problems or config is None or active(latest_job()):
        return
    try:
        grid = {state.sweep_knob: repeats.parse_values(state.sweep_knob, state.sweep_values)}
        if state.sweep_knob2 != NO_KNOB:
            grid[state.sweep_knob2] = repeats.parse_values(state.sweep_knob2, state.sweep_values2)
        jobs = repeats.sweep(config, grid, state.run_name.strip() or "sweep")
        start_sweep(jobs, f"{SWEEP}{','.join(grid)}:{secrets.token_hex(3)}")
    except (CnnError, ConfigError) as exc:
        state.start_error = str(exc)


def sweep_form(problems: dict[str, str], busy: bool) -> None:
    """One knob (two for a grid) and a few values: a run each, queued together as one turn."""
    with st.expander("Sweep: several values of one knob (or two), a run each"):
        knobs = [name for name in FORM_FIELDS if name != "seed"]
        label = {name: knob_range(name)["label"] for name in knobs}
        first, values = st.columns([1, 2])
        first.selectbox("Knob", knobs, key="sweep_knob", format_func=label.get)
        values.text_input(
            "Values",
            key="sweep_values",
            placeholder="e.g. 0.1, 0.25, 0.4",
            help="separated by commas; every other knob as set above",
        )
        second, values2 = st.columns([1, 2])
        second.selectbox(
            "Second knob (a grid)", [NO_KNOB, *knobs], key="sweep_knob2", format_func=lambda n: label.get(n, n)
        )
        values2.text_input("Its values", key="sweep_values2", disabled=st.session_state.sweep_knob2 == NO_KNOB)
        st.button(
            "Start the sweep",
            key="start_sweep",
            on_click=_start_sweep,
            disabled=bool(problems) or busy,
            help=f"At most {repeats.MAX_SWEEP} runs; each must fit the time budget.",
        )


def sweep_chart(job: Job) -> None:
    """A sweep's test accuracy (and drawn-digit accuracy) against its knob(s), as its runs finish."""
    if not job.experiment.startswith(SWEEP):
        return
    knobs = job.experiment[len(SWEEP) :].split(":")[0].split(",")
    runs = [r for r in list_runs() if not r.damaged and r.experiment == job.experiment]
    st.subheader("The sweep so far", anchor=False)
    if not runs:
        st.caption("The chart fills in as the sweep's runs finish.")
        return
    labels = {k: knob_range(k)["label"] for k in knobs}
    st.plotly_chart(
        charts.knob_scatter(runs_table.experiment_points(runs, knobs), labels, columns=2), key="sweep_chart"
    )
    rows = [
        {
            **{labels[k]: runs_table.shown(getattr(r.config, k)) for k in knobs},
            "test accuracy": r.test_accuracy,
            "drawn digits": scores.drawn_accuracy(r),
        }
        for r in runs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        key="sweep_table",
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "drawn digits": st.column_config.NumberColumn(format="percent", help="on drawn digits unlike MNIST's"),
        },
    )


def batch_caption(job: Job) -> None:
    """For seeds queued together: which run of them this is."""
    batch = [j for j in job_queue().jobs_of(owner()) if job.batch and j.batch == job.batch]
    if len(batch) > 1:
        done = sum(j.ended for j in batch)
        st.caption(
            f"Run {done + (not job.ended)} of {len(batch)} of this setting (seeds "
            f"{batch[0].config.seed} to {batch[-1].config.seed}); the Compare page shows their mean and "
            "spread, and whether a difference from another setting is more than the seeds' noise."
        )


def active(job: Job | None) -> bool:
    return job is not None and not job.ended


def saved(job: Job) -> None:
    """Where the run was saved (with renaming), or why it was not (with a retry)."""
    if job.run is None:
        st.error(job.error or "The run was not saved.")
        if st.button("Try saving again", key="save_again"):
            try:
                job_queue().save(job)
            except CnnError as exc:
                st.error(str(exc))
            else:
                st.rerun()
        return
    st.success(f"Saved as “{md(job.run.name)}”: it now appears on the Draw page.")
    st.page_link("pages/draw.py", label="Draw a digit for it to read", icon="✍️")
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    new_name = name_col.text_input("Rename this run", value=job.run.name, key=f"rename_{job.run.id}", max_chars=80)
    if button_col.button("Rename", key="rename") and new_name.strip() != job.run.name:
        try:
            job.run = rename_run(job.run.id, new_name, job.run.path.parent)
        except CnnError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def gallery(test: TestMetrics) -> None:
    data = load_mnist()
    tiles = charts.confident_mistakes(test, data.x_test, data.y_test, limit=GALLERY)
    if not tiles:
        st.success("Not a single test digit was misread.")
        return
    st.markdown(
        f"**The {len(tiles)} mistakes it was surest about**: the true digit, what the model read, and how sure it was."
    )
    for start in range(0, len(tiles), GALLERY_COLUMNS):
        for col, (image, caption) in zip(st.columns(GALLERY_COLUMNS), tiles[start : start + GALLERY_COLUMNS]):
            col.image(image, caption=caption)


def _train_more(run) -> None:
    try:
        more = st.session_state.more_epochs
        start_job(run.config.replace(epochs=more), f"{run.name}, +{more} epochs"[:80], kind=MORE, base_run=run.id)
    except (CnnError, ConfigError) as exc:
        st.session_state.start_error = str(exc)


def train_more(job: Job) -> None:
    """Continue the saved run: its curves go on where they ended."""
    if job.run is None or job.kind == TEACH:
        return
    room = knob_range("epochs")["high"] - job.run.config.epochs
    if room < 1:
        return
    epochs_col, button_col = st.columns([1, 3], vertical_alignment="bottom")
    epochs_col.number_input("More epochs", 1, room, min(2, room), key="more_epochs")
    button_col.button(
        "Train more",
        key="train_more",
        on_click=_train_more,
        args=(job.run,),
        help="Trains this model further, with the same data and settings; the curves continue, the "
        "learning rate restarts gently. Saved as a new run; this one stays.",
    )


def results(job: Job) -> None:
    if job.state in (FAILED, INTERRUPTED):
        st.error(job.error)
        return
    if job.state == CANCELLED:
        st.info(f"The job was cancelled before it started ({job.stop_reason}).")
        return
    outcome = job.outcome
    if outcome.steps == 0:
        st.info(f"Stopped before the first step ({job.stop_reason}): nothing was learned, so nothing was saved.")
        return
    st.subheader("How it did on the 10,000 test digits")
    if outcome.stopped:
        total = job.config.epochs * job.config.steps_per_epoch
        st.warning(
            f"Stopped after step {outcome.steps} of {total} ({job.stop_reason or 'stop requested'}): "
            "the model as it was then has been tested and saved."
        )
    saved(job)
    taught = job.run.taught if job.run is not None else None
    if taught:  # a teaching job: the honest before and after
        (mnist_before, mnist_after), (class_before, class_after) = taught["mnist"], taught["class_drawings"]
        st.success(
            f"Taught {taught['drawings']} of the class's drawings. MNIST test: {mnist_before:.2%} → "
            f"{mnist_after:.2%}; class drawings it did not see ({taught['method']}): {class_before:.1%} → "
            f"{class_after:.1%}."
        )
    test = outcome.test
    acc, loss, mistakes, seconds = st.columns(4)
    acc.metric("Test accuracy", f"{test.accuracy:.2%}")
    loss.metric("Test loss", f"{test.loss:.3f}")
    mistakes.metric("Mistakes", f"{len(test.misclassified):,}", help="test digits it misread, of 10,000")
    seconds.metric(
        "Training time", duration(outcome.train_seconds), help=f"{outcome.images_per_s:,.0f} images per second"
    )
    curves(job, "final")
    train_more(job)
    left, right = st.columns(2)
    left.markdown("**Confusion matrix**: each row a true digit, each column what the model read")
    left.plotly_chart(charts.confusion_heatmap(test.confusion), key="confusion")
    right.markdown("**Accuracy for each digit**")
    right.plotly_chart(charts.per_class_bars(test.per_class_accuracy), key="per_class")
    gallery(test)


# --- the page --------------------------------------------------------------------------------
for name, value in PRESETS[DEFAULT_PRESET].to_dict().items():
    st.session_state.setdefault(name, value)
st.session_state.setdefault("preset", DEFAULT_PRESET)
st.session_state.setdefault("run_name", "")
# The class experiment (the teacher's question) fixes every knob but one or two, for students.
experiment = None if is_teacher() else classroom.class_settings().experiment
if experiment is not None:
    st.session_state.update(experiment.apply(form_values()))
    follow_knobs()
config, problems = checked_form()
job = latest_job()
busy = active(job)


def form() -> None:
    """The knobs, the model they make, the run's name and Start."""
    if experiment is not None:
        free = " and ".join(knob_range(name)["label"].lower() for name in experiment.free)
        st.info(
            f"**Class experiment:** {md(experiment.question)}  \nChoose your {free}; the teacher has set the rest. "
            "Your run joins the class's chart on the Class page."
        )
    st.selectbox(
        "Start from",
        [*PRESETS, CUSTOM],
        key="preset",
        on_change=apply_preset,
        persist_state="session",
        disabled=experiment is not None,
        help="A preset sets every knob below; change any of them afterwards.",
    )
    basic = knobs_in("basic")
    for column, name in zip(st.columns(len(basic)), basic):
        with column:
            field(name, problems)
    with st.expander("Advanced", expanded=any(name not in basic for name in problems)):
        for column, group in zip(st.columns(len(GROUPS) - 1), list(GROUPS)[1:]):
            with column:
                st.markdown(f"**{GROUPS[group]}**")
                for name in knobs_in(group):
                    field(name, problems)

    if config is not None:
        st.markdown(f"**Model:** {describe(config)}")
        estimate = budget.estimate_seconds(config, budget.machine_speed(list_runs()))
        st.caption(
            f"{config.epochs} epoch{'s' * (config.epochs > 1)} × {config.steps_per_epoch} steps of "
            f"{config.batch_size} images; {config.fit_images:,} training and {config.validation_images:,} "
            f"validation images. About {duration(estimate)} of training on this server (an estimate)."
        )
        if "budget" in problems:
            st.error(problems["budget"])
    else:
        st.markdown("**Model:** fix the settings marked in red to see it.")

    name_col, seeds_col, start_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    with name_col:
        st.text_input(
            "Run name",
            key="run_name",
            max_chars=80,
            placeholder="automatic: the preset and the time",
            persist_state="session",
        )
        if "run_name" in problems:
            st.error(f"Run name: {problems['run_name']}")
    seeds_col.number_input(
        "Seeds",
        1,
        5,
        1,
        key="seeds",
        disabled=experiment is not None,
        help="Train this setting with this many seeds (Seed, Seed + 1, ...): each its own run, queued together "
        "as your one turn. Their spread shows how much chance alone moves the accuracy.",
    )
    start_col.button("Start training", key="start", type="primary", disabled=bool(problems) or busy, on_click=start)
    if experiment is None:
        sweep_form(problems, busy)
    if "start_error" in st.session_state:
        st.error(st.session_state.pop("start_error"))
    if problems:
        st.caption(
            "Start is off until the settings marked in red are fixed: "
            + ", ".join(OTHER_PROBLEMS.get(name) or knob_range(name)["label"] for name in problems)
            + "."
        )
    elif busy:
        st.caption("Your network is training: stop it (or let it finish) to start another.")
    queue = job_queue()
    st.caption(
        f"Training runs on the server, in one queue shared by everyone using this app: {queue.workers} "
        f"job{'s' if queue.workers != 1 else ''} at a time, the others wait their turn. You can visit the "
        f"Draw page meanwhile. If you close the tab, a running job is stopped {queue.abandon_after:.0f} s later "
        "and still saved with what it learned; a job still waiting is cancelled."
    )


st.title("Train a network")
st.write(
    "Choose how long to train and how big the network is, press **Start**, and watch it learn. "
    "Stop whenever you like: what it has learned so far is kept."
)
if busy:
    # The show in view: the job's live curves first, the form for the next run folded away.
    batch_caption(job)
    follow_job(job, detailed=True)
    sweep_chart(job)
    if st.toggle("Show the settings (for your next run)", key="show_form"):  # (expanders cannot nest)
        form()
else:
    form()
    if job is not None:
        st.divider()
        sweep_chart(job)
        results(job)
