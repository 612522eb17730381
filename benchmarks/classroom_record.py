"""Record what Chromium sends for the Draw page: `python -m benchmarks.classroom_load --record` (from the root).

Starts `streamlit run app.py`, opens /draw in headless Chromium (Playwright), listens to
the page's websocket, and draws two strokes with the mouse: a "1", then a bar across it.
The BackMsgs it sent are saved to benchmarks/recorded_stroke.json:

- "load": the rerun_script a tab sends when it opens /draw (no widget states yet);
- "stroke": the rerun_script the canvas sends after the first stroke (every widget's
  state, the canvas's value being JSON {"drawing": {"raw": fabric.js objects,
  "data": PNG data URL}});
- "later_stroke": the second stroke, for reference: it also reports the widgets the
  first answer added (the two view toggles);
- "train_start": on /train (a new tab), the rerun_script the "Start training" button
  sends (the form's every widget, the button's trigger_value);
- "train_fragment": the rerun_script of the Train page's live fragment, which the
  browser sends every 0.5 s while the job runs (fragment_id, is_auto_rerun).

classroom_load.py replays "load" and "stroke"; the notes in the file say what it replaces.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NOTES = {
    "handshake": "GET /draw sets the _streamlit_xsrf cookie; the websocket to /_stcore/stream sends "
    "Sec-WebSocket-Protocol: streamlit, <that cookie value> (a reconnecting tab adds its last "
    "session id as a third entry), with the cookie and an Origin header.",
    "load": "replayed as is, with page_name and context_info.url set to the session's page.",
    "stroke": "replayed with: page_script_hash = the session's (new_session.page_script_hash of its page "
    "load); each widget id replaced by the session's widget with the same user key "
    "($$ID-<hash>-<key>); the Model selectbox's string_value = the option the session's page "
    "shows as default; canvas json_value: drawing.data replaced by the PNG data URL of a "
    "280x280 RGBA drawing with a known label, drawing.raw (the fabric.js path) kept; widgets "
    "the session's page shows that the recording did not (the view toggles after a first "
    "answer) added at their defaults, as later_stroke shows the browser does; "
    "context_info.url = the session's page.",
    "train_start": "replayed (with --train) by a teacher session on /train like stroke: page hash, widget "
    "ids by user key, page url; the form's values as recorded (the fast default preset).",
    "train_fragment": "replayed every auto_rerun interval while the job runs, like train_start, with "
    "fragment_id = the one the session's last auto_rerun ForwardMsg named.",
}


def _decoded(msg) -> str:
    """The message as text, PNG data shortened, for people reading the file."""
    return re.sub(r"base64,[A-Za-z0-9+/=]{40,}", lambda m: m.group(0)[:47] + "...", str(msg))


def record(path: Path, runs_dir: Path | None = None) -> None:
    from playwright.sync_api import expect, sync_playwright
    from streamlit.proto.BackMsg_pb2 import BackMsg

    from benchmarks.classroom_load import ensure_runs_dir, start_server, stop_server
    from tests.browser import CHROMIUM, CHROMIUM_FLAGS, stroke  # run from the repository root (-m)

    work = Path(tempfile.mkdtemp(prefix="classroom-record-"))
    from cnn.store import best_run

    source = ensure_runs_dir(Path(runs_dir or os.environ.get("CNN_RUNS_DIR") or ROOT / "runs"), None, work)
    # A copy holding the best run only: the Start click below must not save a run into yours.
    served = ensure_runs_dir(source, best_run(source).id, work)
    url, proc = start_server(served, work / "streamlit.log")
    sent: list[bytes] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)  # app.py first (see tests/test_browser_draw.py)
            expect(page.get_by_role("link", name="Draw", exact=True)).to_be_visible()
            page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
            page.goto(f"{url}/draw")
            surface = page.locator("canvas.upper-canvas")
            expect(page.get_by_text("Draw a digit on the canvas")).to_be_visible(timeout=90_000)
            answer = page.get_by_role("heading", name=re.compile(r"^Prediction: "))
            box = surface.bounding_box()
            stroke(page, box, [(140, 40), (138, 140), (136, 240)])
            expect(answer).to_be_visible()
            page.wait_for_timeout(1500)
            stroke(page, box, [(90, 240), (140, 240), (190, 240)])
            deadline = time.monotonic() + 30
            while len([f for f in sent if _is_rerun(f, BackMsg)]) < 3 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            page.wait_for_timeout(1500)
            n_draw = len(sent)
            page.goto(f"{url}/train")  # the teacher's tab
            start = page.get_by_role("button", name="Start training")
            expect(start).to_be_enabled(timeout=90_000)
            page.wait_for_timeout(1000)
            start.click()
            expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=90_000)
            deadline = time.monotonic() + 30
            while len(_fragment_reruns(sent[n_draw:], BackMsg)) < 2 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            page.get_by_role("button", name="Stop").click()
            page.wait_for_timeout(1000)
            chromium = browser.version
            browser.close()
    finally:
        stop_server(proc)
        shutil.rmtree(work, ignore_errors=True)
    reruns = [f for f in sent if _is_rerun(f, BackMsg)]
    if len(reruns) < 3:
        raise RuntimeError(f"expected 3 rerun_script messages (load, 2 strokes), got {len(reruns)}")
    load, first, second = reruns[:3]
    train = sent[n_draw:]
    starts = [
        f
        for f in train
        if _is_rerun(f, BackMsg)
        and '-start"' in str(_parse(f, BackMsg))
        and _parse(f, BackMsg).rerun_script.page_name != "train"
        and not _parse(f, BackMsg).rerun_script.fragment_id
    ]
    fragments = _fragment_reruns(train, BackMsg)
    if not starts or not fragments:
        raise RuntimeError(f"on /train: {len(starts)} Start reruns, {len(fragments)} fragment reruns recorded")
    recorded = (
        ("load", load),
        ("stroke", first),
        ("later_stroke", second),
        ("train_start", starts[0]),
        ("train_fragment", fragments[0]),
    )
    msgs = {name: _parse(raw, BackMsg) for name, raw in recorded}
    out = {
        "recorded_with": {
            "streamlit": version("streamlit"),
            "streamlit-drawable-canvas": version("streamlit-drawable-canvas"),
            "chromium": chromium,
        },
        "notes": NOTES,
        **{name: base64.b64encode(raw).decode() for name, raw in recorded},
        "decoded": {name: _decoded(m) for name, m in msgs.items()},
    }
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {path} ({len(sent)} frames sent by the page, {len(reruns)} reruns)")


def _parse(frame, BackMsg):
    m = BackMsg()
    m.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
    return m


def _fragment_reruns(frames, BackMsg) -> list:
    return [f for f in frames if _is_rerun(f, BackMsg) and _parse(f, BackMsg).rerun_script.fragment_id]


def _is_rerun(frame, BackMsg) -> bool:
    m = BackMsg()
    try:
        m.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
    except Exception:
        return False
    return m.WhichOneof("type") == "rerun_script"
