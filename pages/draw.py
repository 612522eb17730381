"""Draw page: draw a digit (or upload a photo of one), see the 28x28 the model sees and
the ten probabilities it gives. Or, in Number mode, draw a whole number on a wide canvas:
the page finds the digits (`cnn.number`), boxes them on the drawing and reads each one.

Read top to bottom: the model picker, the inputs (canvas, pen, Clear, upload), then the
answer beside them, then two views behind toggles: how the input was prepared, and a look
inside the network (saliency, each conv layer's maps, the first layer's filters). The canvas
reruns the page once per stroke; each rerun classifies the current input again (a few
milliseconds, and ~10 ms more with the look inside on). With no saved run the page trains
the fast default right here.
"""

from __future__ import annotations

import hashlib
import time

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from cnn import collection, explain, shape
from cnn.config import DEFAULT_PRESET, PRESETS
from cnn.errors import CnnError
from cnn.finetune import MIN_DRAWINGS
from cnn.imagefile import decode_image
from cnn.jobs import TEACH, job_queue
from cnn.number import NumberReading, read_number
from cnn.predict import Prediction, classifier_for, loaded_classifier
from cnn.preprocess import no_digit_reason
from cnn.store import RunInfo, best_run, list_runs
from ui import charts
from ui.frame import enter_app_frame
from ui.job_progress import active_jobs, follow_job, start_job
from ui.session import nickname, owner
from ui.strokes import stroke_map
from ui.text import md

enter_app_frame()

CANVAS = 280  # pixels a side
NUMBER_CANVAS = (700, 280)  # width, height: room for a few digits side by side
DIGIT, NUMBER = "Digit", "Number"
TILES_PER_ROW = 3
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]
DRAWING, PHOTO = "drawing", "uploaded photo"
NO_CHART_BAR = {"displayModeBar": False}

state = st.session_state
state.setdefault("canvas_nonce", 0)  # bumped by Clear: a new initial drawing empties the canvas
for toggle in ("steps", "inside"):  # keep a view switched on while the canvas is blank (Streamlit
    if toggle in state:  # forgets widgets that a run does not draw)
        state[toggle] = state[toggle]


# ---------------------------------------------------------------------------------------
# Callbacks (run before the page, on the rerun a click or a stroke causes)
# ---------------------------------------------------------------------------------------


def _clear() -> None:
    """Empty the canvas. Until the canvas reports the empty drawing, its value is still the
    old one: remember it so this rerun already shows a blank canvas."""
    state.canvas_nonce += 1
    state.canvas_cleared = state.get("canvas_seen")


def _drawn() -> None:
    state.source = DRAWING  # a new stroke: classify the drawing


def _uploaded() -> None:
    if state.get("upload") is not None:
        state.source = PHOTO  # a new photo: classify it


def _train_fast_default() -> None:
    try:
        job = start_job(PRESETS[DEFAULT_PRESET], DEFAULT_PRESET)
    except CnnError as exc:
        state.train_error = str(exc)
        return
    state.train_error = None
    state.draw_job = job.id


# ---------------------------------------------------------------------------------------
# Pieces of the page
# ---------------------------------------------------------------------------------------


def pick_model() -> RunInfo | None:
    """Every usable saved run; the class model (else the most accurate) is the default."""
    runs = list_runs()
    usable = {r.id: r for r in runs if not r.damaged}
    skipped = len(runs) - len(usable)
    run = None
    if usable:
        ids = list(usable)
        best = best_run(runs=runs)
        default = best.id if best is not None and best.id in usable else ids[0]
        gone = state.get("run") if state.get("run") not in usable else None
        if gone or not state.get("run_picked"):
            # Set through the widget's own state, so what the picker shows is what answers (a
            # run deleted by someone else, or the class model changing for those who never picked).
            state.run, state.run_picked = default, False
        chosen = st.selectbox(
            "Model",
            ids,
            format_func=lambda i: usable[i].label,
            key="run",
            on_change=lambda: state.update(run_picked=True),
            help="A saved training run. Train more on the Train page.",
        )
        if gone:
            st.warning("The model you were using has just been deleted; the answers now come from the one shown above.")
        run = usable[chosen]
    if skipped:
        st.caption(
            f"{skipped} damaged saved run{'s' if skipped > 1 else ''} skipped "
            "(`python -m cnn runs` lists them with the reason)."
        )
    return run


def read_drawing(canvas) -> tuple[bytes | None, object | None, str | None]:
    """The canvas's drawing: its PNG bytes and RGBA array, None while blank; or an error message."""
    unreadable = "The canvas sent a drawing that could not be read. Press Clear and draw again."
    try:
        data = canvas.image_bytes
    except (ValueError, TypeError, AttributeError):  # not a base64 data URL
        return None, None, unreadable
    state.canvas_seen = data
    if data is None or data == state.get("canvas_cleared"):
        return None, None, None
    state.canvas_cleared = None  # a new drawing: the cleared one cannot come back
    if isinstance(canvas.json_data, dict) and canvas.json_data.get("objects") == []:
        return None, None, None  # cleared, reset or every stroke undone
    try:
        drawing = decode_image(data)
    except CnnError:
        return None, None, unreadable
    if drawing.ndim == 3 and drawing.shape[2] == 4 and not drawing[:, :, 3].any():
        return None, None, None  # nothing drawn
    return data, drawing, None


def upload_error(upload) -> str | None:
    """Why the uploaded file cannot be used (None if it can), checked once per file."""
    checked = state.get("upload_checked")
    if checked is None or checked[0] != upload.file_id:
        try:
            decode_image(upload.getvalue())
            checked = (upload.file_id, None)
        except CnnError as exc:
            checked = (upload.file_id, str(exc))
        state.upload_checked = checked
    return checked[1]


def show_prediction(prediction: Prediction) -> None:
    answer, seen = st.columns([3, 2])
    with answer:
        if prediction.refused:
            st.header("That doesn't look like a digit", anchor=False)
            st.warning(f"Why: {prediction.refused}. Draw one digit, 0 to 9, and the network will read it.")
        elif prediction.unsure:
            (a, pa), (b, pb) = prediction.top(2)
            st.header(f"Prediction: {a} or {b}?", anchor=False)
            st.warning(
                f"The model is unsure: {a} ({pa:.0%}) or {b} ({pb:.0%}). Draw the digit again, larger and more clearly."
            )
        else:
            st.header(f"Prediction: {prediction.digit}", anchor=False)
            st.markdown(f"**{prediction.confidence:.0%}** confident")
    with seen:
        st.plotly_chart(charts.digit_image(prediction.prepared.image, height=160), key="seen", config=NO_CHART_BAR)
        st.caption("What the model sees: 28×28 pixels")
    st.plotly_chart(charts.probability_bars(prediction.probabilities), key="bars", config=NO_CHART_BAR)


def _label(encoded: bytes, digit: int, predicted: tuple[int, float], run_id: str, fingerprint: str) -> None:
    try:
        collection.add_drawing(
            decode_image(encoded),
            digit,
            run=run_id,
            predicted=predicted[0],
            confidence=predicted[1],
            owner=owner(),
            owner_name=nickname(),
        )
    except CnnError as exc:
        state.label_error = str(exc)
    else:
        state.labelled = (fingerprint, digit)
    state.label_nonce = state.get("label_nonce", 0) + 1  # a fresh "No, it's a" row next time


def _corrected(key: str, encoded: bytes, predicted: tuple[int, float], run_id: str, fingerprint: str) -> None:
    if state[key] is not None:
        _label(encoded, state[key], predicted, run_id, fingerprint)


def _teach(run: RunInfo, drawings: int) -> None:
    try:
        start_job(run.config, f"{run.name}, taught {drawings} drawings"[:80], kind=TEACH, base_run=run.id)
    except CnnError as exc:
        state.label_error = str(exc)
    else:
        state.job_started = True


def teach_button(run: RunInfo) -> None:
    """'Teach the model': fine-tune this run on MNIST plus the class's drawings, as a job."""
    drawings = collection.count()
    if drawings < MIN_DRAWINGS:
        st.caption(
            f"The class has labelled {drawings} drawing{'s' * (drawings != 1)}; with {MIN_DRAWINGS} or more, "
            "the model can be taught them."
        )
        return
    st.button(
        f"Teach the model the class's {drawings} drawings",
        key="teach",
        on_click=_teach,
        args=(run, drawings),
        disabled=bool(active_jobs()),
        help="Trains this model further on MNIST plus the class's drawings (a minute or less), and saves it "
        "as a new run; it says how it does before and after on drawings it did not see.",
    )


def label_it(encoded: bytes, prediction: Prediction, run: RunInfo) -> None:
    """'That's right' or 'No, it's a ...': the drawing (``encoded``: the file the browser sent)
    joins the class's drawings, to teach the model.

    The buttons' arguments stay in the session's state, and Streamlit keeps the state of up to
    128 closed tabs for a reconnect: so they carry the few KB the browser sent and the answer,
    not the decoded drawing and its preparation steps (0.6 MB a tab for a canvas)."""
    fingerprint = hashlib.sha1(encoded).hexdigest()
    predicted = (prediction.digit, prediction.confidence)
    if "label_error" in state:
        st.error(state.pop("label_error"))
    if state.get("labelled", (None,))[0] == fingerprint:
        st.success(
            f"Saved in the class's drawings as a {state.labelled[1]}: thank you! "
            "Teach the model with them on the Drawings page."
        )
        return
    right, wrong = st.columns([1, 3], vertical_alignment="bottom")
    right.button(
        "✓ That's right",
        key="label_right",
        on_click=_label,
        args=(encoded, prediction.digit, predicted, run.id, fingerprint),
        help="Saves this drawing, with its label, in the class's drawings",
    )
    others = [d for d in range(10) if d != prediction.digit]
    key = f"label_wrong_{state.get('label_nonce', 0)}"
    wrong.pills(
        "No, it's a …",
        others,
        key=key,
        on_change=_corrected,
        args=(key, encoded, predicted, run.id, fingerprint),
        help="The right digit: saves this drawing, with that label, in the class's drawings",
    )


def show_reading(reading: NumberReading, read_ms: float) -> None:
    """The number and where each digit was found (left); each digit's 28x28 with its top
    probability (right); how long finding and reading them took (``read_ms``)."""
    digits = reading.digits
    found, seen = st.columns(2, gap="large")
    with found:
        st.header(f"Number: {reading.number}", anchor=False)
        if reading.unsure:
            doubts = []
            for i in reading.unsure:
                (a, pa), (b, pb) = digits[i].prediction.top(2)
                doubts.append(f"digit {i + 1}: {a} ({pa:.0%}) or {b} ({pb:.0%})")
            touching = [i + 1 for i in reading.unsure if i in reading.wide]
            st.warning(
                f"The model is unsure of {'; '.join(doubts)}. "
                f"Draw {'that digit' if len(doubts) == 1 else 'those digits'} again, larger and more clearly."
                + (
                    f" If digit {' and '.join(map(str, touching))} is really two digits that touch, "
                    "leave a gap between them."
                    if touching
                    else ""
                )
            )
        else:
            st.markdown(f"At least **{min(d.prediction.confidence for d in digits):.0%}** confident of every digit")
        st.plotly_chart(
            charts.number_boxes(
                reading.ink,
                [d.box for d in digits],
                [d.prediction.digit for d in digits],
                [d.prediction.unsure for d in digits],
            ),
            key="number_boxes",
            config=NO_CHART_BAR,
        )
        n = reading.strokes
        st.caption(
            f"Where the digits were found: {f'your {n} stroke' + 's' * (n > 1) if n else 'connected ink'}, "
            "strokes above one another joined into one digit, dots and specks left out, digits that still "
            "touch cut where the ink is thinnest. A dashed box: not sure."
        )
    with seen:
        for start in range(0, len(digits), TILES_PER_ROW):
            for i, column in enumerate(st.columns(TILES_PER_ROW), start=start):
                if i >= len(digits):
                    break
                p = digits[i].prediction
                with column:
                    st.plotly_chart(
                        charts.digit_image(p.prepared.image, height=130), key=f"number_digit_{i}", config=NO_CHART_BAR
                    )
                    st.caption(f"{p.digit}{'?' if p.unsure else ''} · {p.confidence:.0%}")
        st.caption(
            "What the model sees of each digit: 28×28 pixels, prepared the MNIST way. "
            f"Found, cut apart, prepared and read in {read_ms:.0f} ms."
        )


def show_steps(prediction: Prediction) -> None:
    """The MNIST recipe applied to this input, one sentence per step."""
    p = prediction.prepared
    ink, fit, centre = st.columns(3)
    with ink:
        st.plotly_chart(charts.ink_with_box(p.ink, p.box, "1. Ink, cropped"), key="step_ink", config=NO_CHART_BAR)
        st.caption(
            "Your input becomes an ink map (ink 1, background 0); the box is the crop "
            "around the ink, with stray specks left out."
        )
    with fit:
        st.plotly_chart(
            charts.digit_image(p.fitted, f"2. Fitted: {p.fitted.shape[1]}×{p.fitted.shape[0]}"),
            key="step_fit",
            config=NO_CHART_BAR,
        )
        st.caption(
            "The crop is shrunk or enlarged so its longer side is 20 pixels, keeping its shape, as MNIST's digits were."
        )
    with centre:
        st.plotly_chart(
            charts.centred_digit(p.image, p.shift, p.fitted.shape, "3. Centred in 28×28"),
            key="step_centre",
            config=NO_CHART_BAR,
        )
        st.caption(
            "The 20-pixel digit (dashed box) is placed in 28×28 so that its centre of "
            "mass lands on the middle, the cross at (14, 14)."
        )
    compare_with_mnist(p.image)


def compare_with_mnist(image28) -> None:
    """How far this drawing is from a typical MNIST digit: a reason a drawing can be hard."""
    mine, typical = shape.features(image28), shape.mnist_typical()
    rows = [
        {
            "what": shape.FEATURES[name],
            "this drawing": round(mine[name], 2),
            "MNIST median": round(t.median, 2),
            "MNIST's middle 90%": f"{t.low:.2f} to {t.high:.2f}",
            "": t.verdict(mine[name]),
        }
        for name, t in typical.items()
    ]
    st.markdown(
        "**Beside MNIST's digits**: the network learnt from those; the further a drawing strays from "
        "them, the harder it is to read."
    )
    st.dataframe(rows, hide_index=True, key="mnist_comparison")


def show_inside(model, prediction: Prediction) -> None:
    """What the network does with this input: which pixels mattered, what each conv layer
    outputs, and the patterns the first layer learned. Computed only while shown."""
    explainer = explain.explainer_for(model)  # traced once per model, shared by every session
    image, digit = prediction.prepared.image, prediction.digit
    saliency = explainer.saliency(image, digit)
    layers = explainer.activations(image)
    filters = explain.first_layer_filters(model)  # (k, k, n), signed weights

    st.subheader("Inside the network", anchor=False)
    why, learned = st.columns([2, 3], gap="large")
    with why:
        st.plotly_chart(
            charts.saliency_overlay(image, saliency, f"Saliency: why {digit}"),
            key="inside_saliency",
            config=NO_CHART_BAR,
        )
        st.caption(
            f"The pixels that pushed the answer towards {digit}, in red, turning yellow where "
            "they pushed hardest; grey ink without colour hardly mattered."
        )
    with learned:
        if filters is None:
            st.info("This network has no convolution layers, so there are no filters or feature maps to show.")
            return
        k, n = filters.shape[0], filters.shape[2]
        top = float(abs(filters).max()) or 1.0  # one symmetric scale: weights are signed
        grid = explain.tile(filters, columns=8, normalise=False)
        st.plotly_chart(
            charts.tile_grid(
                grid,
                f"First layer: its {n} filters, {k}×{k} weights each",
                name="filters",
                colorscale=charts.DIVERGING,
                zmin=-top,
                zmax=top,
                width=540,
            ),
            key="inside_filters",
            config=NO_CHART_BAR,
        )
        st.caption(
            "The patterns the first layer learned: each filter slides over the whole image and "
            "answers strongly where the ink matches its red weights and avoids its blue ones."
        )
    for row in range(0, len(layers), 2):
        for column, (name, maps) in zip(st.columns(2, gap="large"), layers[row : row + 2]):
            h, w, n = maps.shape
            with column:
                st.plotly_chart(
                    charts.tile_grid(explain.tile(maps, columns=8), f"{name}: {n} maps, {h}×{w} each", name=name),
                    key=f"inside_{name}",
                    config=NO_CHART_BAR,
                )
                if name == layers[0][0]:
                    st.caption(
                        "Each square is one filter's response to your drawing: bright where it found "
                        "its pattern, dark where it did not (each square scaled on its own)."
                    )
                else:
                    st.caption(
                        "Each square is one filter of a deeper layer, which combines the maps before "
                        "it: bright where a larger piece of a digit, a curve, a corner or a stroke's "
                        "end, sits."
                    )


def offer_training() -> None:
    """No usable saved run: train the fast default here, and follow it."""
    jobs = {j.id: j for j in job_queue().jobs_of(owner())}
    job = jobs.get(state.get("draw_job"))
    if job is None or job.ended:
        running = active_jobs()  # one started on the Train page counts too
        job = running[-1] if running else job
    if job is not None and not job.ended:
        st.info("Training a model for you. Draw meanwhile: the answer appears as soon as it is ready.")
        follow_job(job)
        return
    st.info("There is no trained model yet. Train the fast default here (about a minute), then draw.")
    if job is not None:  # ended without a usable run
        st.error(job.error or f"Training ended without a saved model ({job.stop_reason or job.state}). Try again.")
    if state.get("train_error"):
        st.error(state.train_error)
    st.button("Train the fast default now", key="train", type="primary", on_click=_train_fast_default)


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

mode = st.segmented_control(
    "Read", [DIGIT, NUMBER], default=DIGIT, required=True, key="mode", help="One digit, or a whole number of several"
)
number_mode = mode == NUMBER
if number_mode:
    st.title("Draw a number")
    st.caption(
        "Write a number of a few digits side by side, like 2026: the page finds the digits, cuts them "
        "apart and reads each one. Undo a stroke from the canvas toolbar (hover over the canvas)."
    )
else:
    st.title("Draw a digit")
    st.caption(
        "Draw one digit, 0 to 9, with the mouse, a finger or a pen: the network answers after "
        "every stroke. Undo a stroke from the canvas toolbar (hover over the canvas)."
    )
run = pick_model()


def workbench(run: RunInfo | None, number_mode: bool) -> None:
    """The canvas (or upload) and the answer: what a stroke changes, and all it reruns."""
    # Number mode: the wide canvas takes the page's width, the answer comes right below it and
    # the upload after the answer; a digit's answer stands beside its canvas and upload.
    if number_mode:
        left, right, below = st.container(), st.container(), st.container()
    else:
        # The canvas beside the answer; the upload below both, so that on a phone (where columns
        # stack) the answer comes right after the canvas, in view while drawing.
        left, right = st.columns(2, gap="large")
        below = st.container()
    with left:
        pen = st.slider("Pen width", 4, 40, 20, key="pen")
        width, height = NUMBER_CANVAS if number_mode else (CANVAS, CANVAS)
        canvas = st_canvas(
            stroke_width=pen,
            stroke_color="black",
            background_color="",
            height=height,
            width=width,
            drawing_mode="freedraw",
            initial_drawing={"objects": [], "nonce": state.canvas_nonce},
            return_image_data=True,
            key="number_canvas" if number_mode else "canvas",
            on_change=_drawn,
        )
        drawn, drawing, drawing_error = read_drawing(canvas)
        st.button("Clear", key="clear", on_click=_clear)
        if drawing_error:
            st.error(drawing_error)
    with below:
        upload = st.file_uploader(
            f"…or upload a photo or scan of {'a number' if number_mode else 'one digit'}",
            type=UPLOAD_TYPES,
            key="upload",
            on_change=_uploaded,
        )
        photo_error = upload_error(upload) if upload is not None else None
        if photo_error:
            st.error(photo_error)
        photo_ok = upload is not None and photo_error is None
        if drawing is not None and photo_ok:
            source = st.radio("Classify", [DRAWING, PHOTO], key="source", horizontal=True)
        else:
            source = PHOTO if photo_ok and drawing is None else DRAWING

    prediction = reading = None
    read_ms = 0.0
    with right:
        if run is None:
            offer_training()
        else:
            what = "number" if number_mode else "digit"
            try:
                classifier = loaded_classifier(run)
                if classifier is None:  # a spinner starts a thread: not on every stroke, only to load
                    with st.spinner("Loading the model…"):
                        classifier = classifier_for(run)
                if source == PHOTO:
                    encoded = upload.getvalue()
                    image = decode_image(encoded)
                else:
                    encoded, image = drawn, drawing
                if image is not None and number_mode:
                    # A drawing's strokes tell touching digits apart; a photo has none.
                    strokes = stroke_map(canvas.json_data, image.shape[:2]) if source == DRAWING else None
                    started = time.perf_counter()
                    reading = read_number(classifier, image, strokes)
                    read_ms = (time.perf_counter() - started) * 1000
                elif image is not None:
                    prediction = classifier.classify(image)
            except CnnError as exc:
                st.error(str(exc))
            except OSError:  # the run was deleted between listing and loading
                st.error(f"The saved run “{md(run.name)}” could not be read any more. Pick another model.")
            else:
                if image is None:
                    st.info(
                        f"Draw a {what} on the canvas, or upload a photo of one, and the network's answer appears here."
                    )
                elif prediction is None and reading is None:
                    reason = no_digit_reason(image) if not number_mode else "only a few specks or faint marks"
                    st.info(
                        f"No {what} found in the {source}: {reason}. "
                        + (
                            (
                                "Draw a number, its digits filling most of the canvas's height."
                                if number_mode
                                else "Draw a digit, filling most of the canvas."
                            )
                            if source == DRAWING
                            else f"Upload a sharper, closer picture of {'a' if number_mode else 'one'} dark {what} "
                            "on light paper."
                        )
                    )
                else:
                    if drawing is not None and photo_ok:
                        st.caption(f"Classifying the {source}.")
                    if reading is not None:
                        show_reading(reading, read_ms)
                    else:
                        show_prediction(prediction)
                        label_it(encoded, prediction, run)
                        teach_button(run)

    if prediction is not None and st.toggle(
        "How it was prepared", key="steps", help="The steps that turn your input into the model's 28×28 input"
    ):
        show_steps(prediction)

    if prediction is not None and st.toggle(
        "Look inside the network", key="inside", help="Which pixels mattered, and what each layer of the network sees"
    ):
        show_inside(classifier.model, prediction)
    if state.pop("job_started", False):
        st.rerun(scope="app")  # the sidebar follows the new job


# A stroke reruns only the canvas and the answer (a fragment): the runs are not listed again,
# the frame and the sidebar not redrawn. Without a model the page trains one, whose progress
# (itself a fragment) needs the whole page.
(st.fragment(workbench) if run is not None else workbench)(run, number_mode)
