"""The training-curve figure the live Train page rebuilds twice a second."""

import base64
import io
import json

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnn.records import History
from ui import charts


def synthetic_history(steps: int, epochs: int = 2) -> History:
    rng = np.random.default_rng(0)
    h = History()
    h.step = list(range(1, steps + 1))
    h.loss = list(2.3 * np.exp(-np.arange(steps) / 200) + rng.uniform(0, 0.2, steps))
    h.accuracy = list(np.clip(1 - np.asarray(h.loss) / 2.3, 0, 1))
    h.time = list(np.arange(steps) * 0.03)
    h.val_step = list(range(steps // 10, steps + 1, steps // 10))
    h.val_loss = [h.loss[s - 1] for s in h.val_step]
    h.val_accuracy = [h.accuracy[s - 1] for s in h.val_step]
    h.val_time = [h.time[s - 1] for s in h.val_step]
    h.epoch_end_steps = [steps * (e + 1) // epochs for e in range(epochs)]
    return h


def test_a_run_shows_each_step_the_smoothed_curve_validation_and_epoch_lines(tiny_result):
    h = tiny_result[0].history
    fig = charts.training_curves(h, "loss")
    raw, smoothed, validation = fig.data
    np.testing.assert_allclose(raw.x, h.step)
    np.testing.assert_allclose(raw.y, h.loss)
    np.testing.assert_allclose(smoothed.y, charts.smooth(h.loss))
    np.testing.assert_allclose(validation.x, h.val_step)
    np.testing.assert_allclose(validation.y, h.val_loss)
    assert [s.x0 for s in fig.layout.shapes] == h.epoch_end_steps
    assert [a.text for a in fig.layout.annotations] == ["epoch 1"]


def test_a_long_run_is_thinned_for_the_chart_but_smoothed_over_every_step():
    h = synthetic_history(20_000)
    fig = charts.training_curves(h, "accuracy")
    raw, smoothed, validation = fig.data
    assert len(raw.x) <= charts.MAX_CURVE_POINTS
    assert (raw.x[0], raw.x[-1]) == (1, 20_000), "the first and last steps are kept"
    assert np.all(np.diff(raw.x) > 0)
    full = charts.smooth(h.accuracy)
    np.testing.assert_allclose(smoothed.y, np.asarray(full)[np.asarray(raw.x) - 1])
    assert len(validation.x) == 10, "validation points are never thinned"
    assert [s.x0 for s in fig.layout.shapes] == [10_000, 20_000]
    assert fig.layout.yaxis.range[1] == 1.0


def test_a_history_read_while_the_job_appends_to_it_stays_consistent():
    h = synthetic_history(300)
    h.loss.append(0.1)  # the job's thread appended this step's loss but not yet its number
    h.val_step.append(301)  # and a validation step whose loss is not in yet
    fig = charts.training_curves(h, "loss")
    raw, _, validation = fig.data
    assert len(raw.x) == len(raw.y) == 300
    assert len(validation.x) == len(validation.y) == 10


def test_thin_keeps_short_series_whole():
    assert list(charts.thin(5)) == [0, 1, 2, 3, 4]
    picked = charts.thin(10_001, limit=100)
    assert len(picked) <= 100 and picked[0] == 0 and picked[-1] == 10_000


def test_overlaid_runs_are_thinned_like_the_live_curves():
    from ui.runs_table import Curve

    h = synthetic_history(20_000)
    long_run = Curve("long", h.step, h.loss, h.accuracy, h.val_step, h.val_loss, h.val_accuracy)
    fig = charts.overlay_curves([long_run], "accuracy")
    smoothed, validation = fig.data
    assert len(smoothed.x) <= charts.MAX_CURVE_POINTS and (smoothed.x[0], smoothed.x[-1]) == (1, 20_000)
    np.testing.assert_allclose(smoothed.y[-1], charts.smooth(h.accuracy)[-1])
    assert len(validation.x) == 10
    assert fig.layout.yaxis.range[1] == 1.0


def test_number_boxes_outline_each_digit_where_it_was_found_and_mark_the_unsure_one():
    ink = np.zeros((280, 700), np.float32)
    ink[50:230, 100:110] = 1
    boxes = [(50, 100, 230, 110), (60, 300, 220, 420)]
    fig = charts.number_boxes(ink, boxes, [1, 7], [False, True])
    (picture,) = fig.data
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(picture.source.removeprefix("data:image/png;base64,")))))
    assert shown.shape == (112, 280), "shrunk to 280 px wide"
    assert shown[20:90, 40:43].max() == 0 and shown[:15].min() == 255, "ink black, the rest white"
    assert len(fig.to_json()) < 6000, "a PNG, not a heatmap's values (170 KB of JSON for a 6-digit number)"
    assert fig.layout.yaxis.range == (111.5, -0.5), "row 0 at the top"
    sure, unsure = fig.layout.shapes
    # 2.5 input pixels per shown pixel: input edge u is shown at u / 2.5 - 0.5.
    assert (sure.x0, sure.x1, sure.y0, sure.y1) == (39.5, 43.5, 19.5, 91.5)
    assert sure.line.color == charts.HIGHLIGHT and sure.line.dash == "solid"
    assert unsure.line.color == charts.UNSURE and unsure.line.dash == "dash"
    assert [a.text for a in fig.layout.annotations] == ["1", "7?"]


def test_probability_bars_show_the_ten_probabilities_with_the_answer_highlighted():
    p = np.array([0.012, 0.004, 0.9, 0.02, 0, 0, 0.064, 0, 0, 0], np.float32)
    fig = charts.probability_bars(p)
    (bars,) = fig.data
    assert bars.type == "bar" and list(bars.x) == [str(d) for d in range(10)]
    np.testing.assert_allclose(bars.y, p)
    assert list(bars.marker.color) == [charts.HIGHLIGHT if d == 2 else charts.INK for d in range(10)]
    assert bars.text[:4] == ("1%", "", "90%", "2%"), "a label on each bar of 1% or more"
    assert bars.textposition == "outside"
    assert fig.layout.xaxis.type == "category", "every digit labelled"
    assert fig.layout.yaxis.range == (0, 1.1) and fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.yaxis.title.text == "probability"


def test_digit_image_shows_each_pixel_as_a_square_the_right_way_up():
    image = np.zeros((28, 28), np.float32)
    image[3, 5] = 0.75
    fig = charts.digit_image(image, height=160)
    (pixels,) = fig.data
    np.testing.assert_array_equal(pixels.z, image)
    assert pixels.z.dtype == np.float32, "sent after every stroke: float64 would be twice the bytes"
    assert (pixels.zmin, pixels.zmax, pixels.showscale) == (0, 1.0, False)
    assert fig.layout.yaxis.autorange == "reversed", "row 0 at the top"
    assert fig.layout.yaxis.scaleanchor == "x", "square pixels"
    assert not fig.layout.xaxis.showticklabels and not fig.layout.yaxis.showticklabels
    assert fig.layout.height == 160 and fig.layout.title.text is None and fig.layout.margin.t == 0
    titled = charts.digit_image(image, "2. Fitted")
    assert titled.layout.title.text == "2. Fitted" and titled.layout.margin.t == 30


def test_the_charts_redrawn_after_every_stroke_carry_no_template():
    """Plotly's default template (Streamlit's placeholder colours) would add ~7 KB to each,
    copied, hashed and sent after every stroke; these charts set every colour themselves."""
    for fig in (charts.probability_bars(np.full(10, 0.1)), charts.digit_image(np.zeros((28, 28)))):
        assert fig.layout.template.layout.to_plotly_json() == {}
        assert len(fig.to_json()) < 6000


def test_the_charts_redrawn_after_every_stroke_are_written_as_plotly_validates_them():
    """They skip plotly's validation (a third of a millisecond a chart, after every stroke),
    so their specs must already be what validating them would make of them."""
    image = np.zeros((28, 28), np.float32)
    image[3:20, 5:9] = 0.5
    p = np.array([0.012, 0.004, 0.9, 0.02, 0, 0, 0.064, 0, 0, 0], np.float32)
    boxes = charts.number_boxes(np.pad(image, ((0, 0), (0, 40))), [(3, 5, 20, 9)], [1], [False])
    for fig in (
        charts.probability_bars(p),
        charts.digit_image(image, height=160),
        charts.digit_image(image, "title"),
        boxes,
    ):
        assert json.loads(fig.to_json()) == json.loads(go.Figure(fig.to_dict()).to_json())
