"""Compare: every saved run in a leaderboard, chosen runs' curves overlaid, what mattered,
and the run chores (rename, download, mark the class model, delete).

A thin view: ``cnn.store`` lists and changes the runs, ``ui.runs_table`` turns them into
table rows and curves, ``ui.charts`` draws. Buttons act in callbacks (before the page
runs again), which leave a message for the section they belong to. Delete asks first, in a
dialog opened from a session-state flag (so that any rerun keeps it open until answered).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn import card, collection, repeats, scores
from cnn.errors import CnnError
from cnn.store import (
    RunInfo,
    check_run_id,
    class_model,
    delete_run,
    list_runs,
    read_run,
    rename_run,
    runs_dir,
    set_class_model,
)
from ui import charts, runs_table
from ui.frame import enter_app_frame
from ui.session import can_change, is_teacher
from ui.text import md

enter_app_frame()

state = st.session_state
NUMBER = st.column_config.NumberColumn


# ---------------------------------------------------------------------------------------
# Callbacks: they run before the page, and leave a message (section, kind, text) for it
# ---------------------------------------------------------------------------------------


def _say(section: str, kind: str, text: str) -> None:
    state.message = (section, kind, text)


NOT_YOURS = "Only whoever trained this run, or the teacher, can rename or delete it."


def _allowed(run_id: str) -> bool:
    """The owner of this run, or the teacher (checked again here: a callback is an action)."""
    try:
        return can_change(read_run(runs_dir() / check_run_id(run_id)))
    except CnnError:
        return False


def _rename(run_id: str) -> None:
    if not _allowed(run_id):
        _say("manage", "error", NOT_YOURS)
        return
    try:
        run = rename_run(run_id, state.new_name)
    except CnnError as exc:
        _say("manage", "error", str(exc))
    else:
        state.new_name = run.name  # as stored: trimmed, spaces collapsed
        _say("manage", "success", f"Renamed to “{md(run.name)}”.")


def _mark(run_id: str | None) -> None:
    if not is_teacher():
        _say("manage", "error", "Only the teacher chooses the class model.")
        return
    try:
        set_class_model(run_id)
    except CnnError as exc:
        _say("manage", "error", str(exc))
    else:
        _say(
            "manage",
            "success",
            "This run is now the class model: the Draw page starts with it for everyone."
            if run_id
            else "No class model now: the Draw page starts with the most accurate run.",
        )


def _ask_delete(run_id: str, name: str, section: str) -> None:
    state.confirm_delete = (run_id, name, section)


def _cancel_delete() -> None:
    state.pop("confirm_delete", None)


def _delete() -> None:
    run_id, name, section = state.pop("confirm_delete")
    if not _allowed(run_id):
        _say(section, "error", NOT_YOURS)
        return
    try:
        delete_run(run_id)
    except CnnError as exc:
        _say(section, "error", str(exc))
    else:
        _say(section, "success", f"Deleted “{md(name)}”.")


@st.dialog("Delete this run?", on_dismiss=_cancel_delete)
def confirm_delete(run_id: str, name: str) -> None:
    st.write(
        f"**{md(name)}** (`{run_id}`) will be deleted for everyone who uses this app: its model and "
        "its history. This cannot be undone."
    )
    yes, no = st.columns(2)
    # A click in a dialog reruns only the dialog (a fragment): st.rerun() redraws the whole
    # page, without the dialog now that the flag is gone.
    if yes.button("Delete", key="delete_yes", type="primary", width="stretch"):
        _delete()
        st.rerun()
    if no.button("Cancel", key="delete_no", width="stretch"):
        _cancel_delete()
        st.rerun()


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def message(section: str) -> None:
    """The message a callback left for this section, shown once."""
    if state.get("message", (None,))[0] == section:
        _, kind, text = state.pop("message")
        (st.error if kind == "error" else st.success)(text)


def reading_scores(runs: list[RunInfo]) -> dict[str, dict[str, float | None]]:
    """Each run's accuracy on drawings unlike MNIST's and on the class's own (kept once scored)."""
    drawings = collection.list_drawings()
    with st.spinner("Scoring each run on drawings unlike MNIST's and on the class's drawings…"):
        return {
            run.id: {
                "drawn_accuracy": scores.drawn_accuracy(run),
                "class_accuracy": scores.class_accuracy(run, drawings),
            }
            for run in runs
        }


def table(runs: list[RunInfo], class_id: str | None, reading: dict[str, dict[str, float | None]]) -> None:
    rows = runs_table.leaderboard(runs, class_id, reading)
    knobs = [name for name in rows[0] if name in runs_table.SETTINGS]
    config = {
        "rank": NUMBER("#", width="small"),
        "name": st.column_config.TextColumn("Name", width="medium"),
        "by": st.column_config.TextColumn("By", help="who trained it (their nickname); blank: the teacher"),
        "class_model": st.column_config.CheckboxColumn(
            "Class", width="small", help="The class model: the Draw page starts with it"
        ),
        "preset": "Preset",
        **{name: runs_table.label(name).capitalize() for name in knobs},
        "dropout": NUMBER("Dropout", format="%.2f"),
        "parameters": NUMBER("Parameters", format="localized", help="numbers the network learned"),
        "test_accuracy": NUMBER("Test accuracy", format="percent", help="on MNIST's 10,000 test digits"),
        "drawn_accuracy": NUMBER(
            "Drawn digits",
            format="percent",
            help="on 2,560 drawn digits unlike MNIST's (other hands, pens, typed, photos)",
        ),
        "class_accuracy": NUMBER(
            "Class drawings",
            format="percent",
            help="on the drawings the class labelled (a run taught them has seen some: see its own before/after)",
        ),
        "train_seconds": NUMBER("Training time", format="%.1f s", help="fitting and validating, in seconds"),
        "images_per_s": NUMBER("Images/s", format="%.0f", help="training speed"),
        "status": "Status",
        "created": st.column_config.DatetimeColumn("Date (UTC)", format="YYYY-MM-DD HH:mm"),
        "id": "Folder",
    }
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config=config)
    st.caption(
        "Most accurate first; click a column's header to sort by it. Besides epochs, filters and "
        "dropout, a setting gets a column when at least two runs differ in it."
    )


def damaged_list(damaged: list[RunInfo]) -> None:
    st.warning(
        f"{len(damaged)} run folder{'s' if len(damaged) > 1 else ''} cannot be used, and "
        f"{'are' if len(damaged) > 1 else 'is'} left out above:"
    )
    for run in damaged:
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(f"`{run.id}`: {md(run.damaged)}")
        button.button(
            "Delete",
            key=f"delete_damaged_{run.id}",
            on_click=_ask_delete,
            args=(run.id, run.name or run.id, "damaged"),
            disabled=not is_teacher(),
            help=None if is_teacher() else "Only the teacher can delete a damaged run.",
        )


def overlay(runs: list[RunInfo]) -> None:
    st.subheader("Their curves, overlaid")
    by_id = {run.id: run for run in runs}
    picked = st.multiselect(
        "Runs to compare",
        list(by_id),
        default=list(by_id)[:2],
        key="selected",
        format_func=lambda run_id: by_id[run_id].label,
        persist_state="session",
        placeholder="pick two or more runs",
        help="The two newest at first",
    )
    axis = st.radio(
        "Along",
        list(runs_table.X_AXES),
        key="x_axis",
        horizontal=True,
        persist_state="session",
        format_func=lambda a: {"step": "steps", "epoch": "epochs", "time": "time"}[a],
        help="Steps and epochs show how much each run learned per image seen; time shows "
        "which got there sooner on this computer.",
    )
    chosen = [by_id[run_id] for run_id in picked if run_id in by_id]
    if not chosen:
        st.info("Pick two or more runs to see their curves side by side.")
        return
    heads = runs_table.names(chosen)
    curves = [runs_table.curve(run, axis, head) for run, head in zip(chosen, heads)]
    missing = [head for head, c in zip(heads, curves) if c is None]
    curves = [c for c in curves if c is not None]
    if missing:
        st.caption(f"No curves by {runs_table.X_AXES[axis]} for: {', '.join(missing)}.")
    if curves:
        left, right = st.columns(2)
        left.plotly_chart(charts.overlay_curves(curves, "loss", runs_table.X_AXES[axis]), key="overlay_loss")
        right.plotly_chart(charts.overlay_curves(curves, "accuracy", runs_table.X_AXES[axis]), key="overlay_accuracy")
        st.caption(
            "Lines: each step's value, smoothed. Dots: the held-out validation images, scored now and "
            "then during training. Click a name in the legend to hide that run."
        )
    if len(chosen) < 2:
        st.info("Pick one more run to compare.")
        return
    st.markdown("**How their settings differ**")
    rows = runs_table.differences(chosen)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, column_config={"setting": "Setting"})
    else:
        st.caption("They were trained with the same settings: any difference comes from chance alone.")


def mattered(runs: list[RunInfo]) -> None:
    st.subheader("What mattered?")
    points = runs_table.what_mattered(runs)
    if len(runs) < 2 or not points:
        st.caption(
            "With two or more runs trained with different settings, this shows each setting "
            "against the test accuracy it gave."
        )
        return
    st.caption(
        "Test accuracy against each setting that differs between the runs, one dot per run "
        "(hover for its name). A clear slope hints that the setting matters; remember that other "
        "settings changed too."
    )
    labels = {name: runs_table.label(name) for name in points}
    st.plotly_chart(charts.knob_scatter(points, labels), key="what_mattered")


def same_settings(runs: list[RunInfo]) -> None:
    """Runs that differ only by their seed: each setting's mean and spread, and in words whether
    two settings one knob apart really differ."""
    st.subheader("Same settings, other seeds")
    found = repeats.settings(runs)
    repeated = [s for s in found if s.n > 1]
    if not repeated:
        st.caption(
            "Train the same settings again with another seed (under Advanced) to see how much chance "
            "alone moves the accuracy, and so whether a difference between settings is real."
        )
        return
    rows = [
        {
            "name": s.runs[0].name,
            "seeds": s.n,
            "mean": s.mean,
            "low": min(s.values),
            "high": max(s.values),
            "std": s.std,
        }
        for s in repeated
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn("Setting (its first run)"),
            "seeds": NUMBER("Seeds"),
            "mean": NUMBER("Mean test accuracy", format="percent"),
            "low": NUMBER("Lowest", format="percent"),
            "high": NUMBER("Highest", format="percent"),
            "std": NUMBER("Spread (sd)", format="percent", help="standard deviation over the seeds"),
        },
    )
    for v in repeats.verdicts(found):
        (st.success if v.real else st.info)(md(v.words))


def manage(runs: list[RunInfo], class_id: str | None, reading: dict[str, dict[str, float | None]]) -> None:
    st.subheader("Manage a run")
    by_id = {run.id: run for run in runs}
    if state.get("manage") not in by_id:
        state.pop("manage", None)  # deleted since: back to the newest
    run_id = st.selectbox("Run", list(by_id), key="manage", format_func=lambda i: by_id[i].label)
    run = by_id[run_id]
    if "new_name" not in state or state.get("new_name_of") != run.id:
        state.new_name, state.new_name_of = run.name, run.id  # the box starts with this run's name
    mine = can_change(run)
    name_col, rename_col = st.columns([4, 1], vertical_alignment="bottom")
    name_col.text_input("Name", key="new_name", max_chars=80, disabled=not mine)
    rename_col.button(
        "Rename",
        key="rename",
        on_click=_rename,
        args=(run.id,),
        width="stretch",
        disabled=not mine,
        help=None if mine else NOT_YOURS,
    )
    mark_col, download_col, delete_col = st.columns(3)
    if not is_teacher():
        mark_col.caption("The teacher chooses the class model.")
    else:
        marked = run.id == class_id
        mark_col.button(
            "Unmark" if marked else "Make this the class model",
            key="class_model",
            on_click=_mark,
            args=(None if marked else run.id,),
            width="stretch",
            help="This is the class model; unmark it and the Draw page starts with the most accurate run."
            if marked
            else "The Draw page starts with the class model, for everyone.",
        )
    download_col.download_button(
        "Download (.zip)",
        data=lambda: runs_table.run_zip(run, card.card(run, **reading[run.id])),
        file_name=runs_table.zip_name(run),
        mime="application/zip",
        key="download",
        on_click="ignore",
        width="stretch",
        help="model.keras, run.json and its model card, in a folder you can drop into another runs/ folder",
    )
    delete_col.button(
        "Delete…",
        key="delete",
        on_click=_ask_delete,
        args=(run.id, run.name, "manage"),
        width="stretch",
        disabled=not mine,
        help=None if mine else NOT_YOURS,
    )
    if run.id == class_id:
        st.caption("This run is the class model: the Draw page starts with it, for everyone.")
    message("manage")


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

st.title("Compare runs")
try:
    runs = list_runs()
except OSError as exc:
    st.error(f"Cannot read the saved runs ({exc}); check that the runs folder is readable.")
    st.stop()
usable = [run for run in runs if not run.damaged]
damaged = [run for run in runs if run.damaged]
class_id = class_model()

if not usable:
    message("manage")  # e.g. "Deleted …" when the last usable run was just deleted
if not runs:
    st.info("No saved runs yet: train one, and it appears here with its test accuracy.")
    st.page_link("pages/train.py", label="Train a network", icon="🏋️")
if usable:
    st.write(
        "Every saved training run, the most accurate first. Pick a few below to overlay their "
        "curves and see how their settings differ."
    )
    reading = reading_scores(usable)
    table(usable, class_id, reading)
elif runs:
    st.info("No usable runs: train one on the Train page.")
    st.page_link("pages/train.py", label="Train a network", icon="🏋️")
if damaged:
    damaged_list(damaged)
message("damaged")  # also when the last damaged folder was just deleted
if usable:
    overlay(usable)
    mattered(usable)
    same_settings(usable)
    manage(usable, class_id, reading)
if "confirm_delete" in state:
    run_id, name, _ = state.confirm_delete
    confirm_delete(run_id, name)
