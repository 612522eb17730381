"""The classroom load test's protocol client (benchmarks/classroom_load.py), against a real server.

No browser: the sessions replay benchmarks/recorded_stroke.json over the websocket.
"""

from __future__ import annotations

import json
import shutil

from benchmarks.classroom_load import NUMBER, load_template, run_benchmark, stroke_msg

REPORT_FIELDS = {
    "strokes",
    "answered_right",
    "errors",
    "strokes_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "bytes_per_stroke",
    "server_cpu_ms_per_stroke",
    "server_rss_mb",
    "client_cores_busy",
}


class _Widget:
    """Stands in for a widget proto the session learned from its page."""

    def __init__(self, name, **fields):
        self.DESCRIPTOR = type("D", (), {"name": name})
        self.__dict__.update(fields)


def test_a_stroke_is_the_recording_made_this_sessions_own():
    template = load_template()["stroke"]
    widgets = {
        "run": ("$$ID-0001-run", _Widget("Selectbox", options=["my run · 98%"], default=0)),
        "pen": ("$$ID-0002-pen", _Widget("Slider", default=[20])),
        "upload": ("$$ID-0003-upload", _Widget("FileUploader")),
        "canvas": ("$$ID-0004-canvas", _Widget("BidiComponent")),
        "clear": ("$$ID-0005-clear", _Widget("Button")),
        "steps": ("$$ID-0006-steps", _Widget("Checkbox", default=False)),
    }
    msg = stroke_msg(
        template, "page-hash", widgets, "http://127.0.0.1:1/draw", "data:image/png;base64,AAAA", cached=["h1"]
    )
    rerun = msg.rerun_script
    states = {w.id: w for w in rerun.widget_states.widgets}
    assert rerun.page_script_hash == "page-hash"
    assert rerun.context_info.url == "http://127.0.0.1:1/draw"
    assert list(rerun.cached_message_hashes) == ["h1"]
    assert set(states) == {"$$ID-0001-run", "$$ID-0002-pen", "$$ID-0003-upload", "$$ID-0004-canvas", "$$ID-0006-steps"}
    assert states["$$ID-0001-run"].string_value == "my run · 98%"
    assert states["$$ID-0006-steps"].bool_value is False and states["$$ID-0006-steps"].HasField("bool_value")
    canvas = json.loads(states["$$ID-0004-canvas"].json_value)
    recorded = json.loads(
        next(w for w in template.rerun_script.widget_states.widgets if w.id.endswith("-canvas")).json_value
    )
    assert canvas["drawing"]["data"] == "data:image/png;base64,AAAA"
    assert canvas["drawing"]["raw"] == recorded["drawing"]["raw"]  # the fabric.js objects: not empty
    assert canvas["drawing"]["raw"]["objects"]


def test_in_number_mode_a_stroke_picks_number_mode_and_fills_the_wide_canvas():
    template = load_template()["stroke"]
    widgets = {
        "mode": ("$$ID-0001-mode", _Widget("ButtonGroup")),
        "number_canvas": ("$$ID-0002-number_canvas", _Widget("BidiComponent")),
    }
    msg = stroke_msg(template, "h", widgets, "http://127.0.0.1:1/draw", "data:image/png;base64,BBBB", mode=NUMBER)
    states = {w.id: w for w in msg.rerun_script.widget_states.widgets}
    assert set(states) == {"$$ID-0001-mode", "$$ID-0002-number_canvas"}
    assert list(states["$$ID-0001-mode"].string_array_value.data) == ["Number"]
    assert json.loads(states["$$ID-0002-number_canvas"].json_value)["drawing"]["data"] == "data:image/png;base64,BBBB"


def test_three_sessions_for_ten_seconds_get_every_stroke_answered_with_the_right_digit(good_run_dir, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(good_run_dir, runs)
    report = run_benchmark(sessions=3, duration=10, runs_dir=runs, n_drawings=30, quiet=True)
    assert set(report) >= REPORT_FIELDS, REPORT_FIELDS - set(report)
    assert report["errors"] == 0, report["error_samples"]
    assert report["strokes"] >= 12, report  # 3 sessions x 10 s / 1.5 s ~ 20
    assert report["answered_right"] == report["strokes"]
    assert len(report["calibration_dropped"]) <= 6, report["calibration_dropped"]  # the model reads most right
    assert report["bytes_per_stroke"] > 1000
    assert report["server_cpu_ms_per_stroke"] > 0
    assert all(mb > 50 for mb in report["server_rss_mb"].values())


def test_two_sessions_writing_numbers_get_each_whole_number_read_right(good_run_dir, tmp_path):
    """Number mode through the server: each tab switches the Draw page to Number mode and
    sends 6-digit numbers on the wide canvas; answered right = the page drew "Number: <it>"."""
    runs = tmp_path / "runs"
    shutil.copytree(good_run_dir, runs)
    report = run_benchmark(sessions=2, duration=8, runs_dir=runs, n_drawings=12, quiet=True, number=True)
    assert report["mode"] == NUMBER
    assert report["errors"] == 0, report["error_samples"]
    assert report["strokes"] >= 6, report
    assert report["answered_right"] == report["strokes"]
    assert len(report["calibration_dropped"]) <= 9, report["calibration_dropped"]
    assert 0 < report["read_ms_p50"] <= report["read_ms_p95"], "the page's timing of the reading, read off its caption"
