"""A classroom through the real server: N students drawing on /draw over Streamlit's own protocol.

    python benchmarks/classroom_load.py                          # 30 students, 60 s, own server
    python benchmarks/classroom_load.py --sessions 10 --duration 60
    python benchmarks/classroom_load.py --url http://127.0.0.1:8501 --url http://127.0.0.1:8502
    python benchmarks/classroom_load.py --train                  # ... while a training job runs
    python benchmarks/classroom_load.py --number                 # 6-digit numbers in Number mode
    python -m benchmarks.classroom_load --record   # re-record what a browser sends (from the repository root)

Unlike benchmarks/load_test.py (in-process, no server), every stroke here goes through
`streamlit run app.py` the way a browser's does: a websocket to /_stcore/stream with the
XSRF token in Sec-WebSocket-Protocol, BackMsg protobufs up, ForwardMsg protobufs down.
What a browser sends was recorded once with Chromium (--record) into
benchmarks/recorded_stroke.json; each session replays it with its own page hash, widget
ids and cache hashes and a different drawing of a known digit (the file's "notes" say
exactly what is replaced; stroke_msg does it).

Each session connects like a browser tab (GET /draw for the XSRF cookie, websocket, the
initial rerun of the Draw page), then sends strokes on a jittered clock (mean one per
--interval seconds, uniform 0.5x-1.5x; at most one stroke in flight per session: a stroke
that falls due while the previous answer is still out is sent when the answer comes, and
counted as late).  One tab per server opens first, then the rest (--cold-start: all at
once). A stroke is timed from sending its BackMsg to the rerun's ForwardMsg
script_finished, and counts as answered only if that rerun drew the heading
"Prediction: <the drawing's digit>" (with --number: each tab switches the page to Number
mode as a click on its "Read" control does, and sends 6-digit numbers on the 700x280
canvas; a stroke is answered right when the rerun drew "Number: <the number>"). Before
timing, one session sends every drawing once and the pool keeps only the drawings the
served model reads right ("calibration"),
so a wrong answer under load is a real fault (a mixed-up session, a stale rerun), not
the model's mistake.

Prints latency p50/p95/p99/max, errors, strokes/s, ForwardMsg bytes per stroke, the
server process's CPU ms per stroke and RSS (from /proc), the client's own CPU and the
whole machine's (it is shared). With --train, a teacher session presses the Train page's
Start button (recorded too; the fast default) and watches the job as a browser does
(the live fragment's auto-reruns), once alone, then again each time a job ends while the
students draw (so a job trains for all of --duration), in the same server; the jobs'
images/s (run.json: alone, and the median with the class) and the strokes' latency while
a job ran are reported.

Loopback only: --url must point at 127.0.0.1 / localhost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TEMPLATE = Path(__file__).with_name("recorded_stroke.json")
ANSWER = re.compile(r"^(?:Prediction: \d(?: or \d\?)?|Number: \d+)$")  # a digit's heading, or a number's
DIGIT, NUMBER = "Digit", "Number"  # the Draw page's modes (its "Read" control, key "mode")
READ_MS = re.compile(r"read in (\d+) ms\.")  # Number mode's caption: the page's own timing of read_number
FINISHED_OK = (0, 3)  # ForwardMsg.ScriptFinishedStatus: the whole page, or a fragment (a stroke's)
REFUSED = "That doesn't look like a digit"  # the Draw page's heading for a refused drawing
ID = re.compile(r"^\$\$ID-[0-9a-f]+-(.+)$")  # a keyed widget's id: $$ID-<hash>-<user key>
STROKE_TIMEOUT = 60.0
TRAIN_TIMEOUT = 600.0  # a training job (--train) must have saved its run by then
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_CACHED_AGE = 2  # Streamlit's global.maxCachedMessageAge: the browser drops older cached messages


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------


def _protos():
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return BackMsg, ForwardMsg


def load_template(path: Path = TEMPLATE) -> dict:
    """The recorded messages: {"load": BackMsg, "stroke": BackMsg, ...} (parsed)."""
    BackMsg, _ = _protos()
    raw = json.loads(path.read_text())
    out = dict(raw)
    for name in ("load", "stroke", "train_start", "train_fragment"):
        if name not in raw:
            continue
        msg = BackMsg()
        msg.ParseFromString(base64.b64decode(raw[name]))
        out[name] = msg
    return out


def data_url(rgba) -> str:
    """A drawing as the canvas sends it: PNG data URL of the 280x280 RGBA canvas."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def widget_key(widget_id: str) -> str | None:
    m = ID.match(widget_id)
    return m.group(1) if m else None


def element_widget(element) -> tuple[str, object] | None:
    """(id, the widget's proto) of a new_element that is a widget, else None."""
    kind = element.WhichOneof("type")
    proto = getattr(element, kind) if kind else None
    widget_id = getattr(proto, "id", "") if proto is not None else ""
    return (widget_id, proto) if isinstance(widget_id, str) and widget_id.startswith("$$ID-") else None


def default_state(widget_id: str, proto, ws) -> bool:
    """Fill `ws` (a WidgetState) with the widget's default, as the browser reports an
    untouched widget; False for a widget kind the browser does not report."""
    kind = proto.DESCRIPTOR.name
    ws.id = widget_id
    if kind == "Checkbox":
        ws.bool_value = proto.default
    elif kind == "Selectbox":
        ws.string_value = proto.options[proto.default]
    elif kind == "Slider":
        ws.double_array_value.data.extend(proto.default)
    else:
        return False
    return True


def stroke_msg(
    template,
    page_script_hash: str,
    widgets: dict,
    page_url: str,
    drawing_url: str | None,
    cached: list[str] = (),
    fragment_id: str | None = None,
    mode: str = DIGIT,
):
    """The recorded stroke BackMsg, made this session's: its page hash and url, its widget
    ids (matched by user key), the selectbox value its page shows, widgets its page shows
    that the recording did not (at their defaults, as a browser reports them), the hashes
    of the ForwardMsgs it holds in its cache, and the canvas value carrying `drawing_url`
    in place of the recorded PNG, and the Draw page's mode: in Number mode the canvas value
    goes to the wide canvas (key "number_canvas") the page then shows. The Train page's
    recorded messages go through here too (no drawing; a fragment rerun names the
    session's fragment)."""
    BackMsg, _ = _protos()
    msg = BackMsg()
    msg.CopyFrom(template)
    rerun = msg.rerun_script
    rerun.page_script_hash = page_script_hash
    rerun.context_info.url = page_url
    del rerun.cached_message_hashes[:]
    rerun.cached_message_hashes.extend(cached)
    if fragment_id is not None:
        rerun.fragment_id = fragment_id
    recorded = list(rerun.widget_states.widgets)
    del rerun.widget_states.widgets[:]
    seen = set()
    for ws in recorded:
        key = widget_key(ws.id)
        if key == "canvas" and "number_canvas" in widgets:
            key = "number_canvas"
        if key not in widgets:
            continue  # the recording's page showed it, this one does not
        widget_id, proto = widgets[key]
        seen.add(key)
        new = rerun.widget_states.widgets.add()
        if key == "mode":
            new.id = widget_id
            new.string_array_value.data.append(mode)
        elif key.endswith("canvas") and drawing_url is not None:
            value = json.loads(ws.json_value)
            value["drawing"]["data"] = drawing_url
            new.id = widget_id
            new.json_value = json.dumps(value, separators=(",", ":"))
        elif ws.WhichOneof("value") == "string_value" and proto.DESCRIPTOR.name == "Selectbox":
            default_state(widget_id, proto, new)
        else:
            new.CopyFrom(ws)
            new.id = widget_id
    for key, (widget_id, proto) in widgets.items():
        if key not in seen:
            new = rerun.widget_states.widgets.add()
            if not default_state(widget_id, proto, new):
                del rerun.widget_states.widgets[-1]
    return msg


# ---------------------------------------------------------------------------------------
# One session: a browser tab on /draw
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    sent_at: float
    seconds: float | None = None
    bytes: int = 0
    answer: str | None = None
    error: str | None = None
    late: bool = False
    base: str = ""
    refs: int = 0
    read_ms: float | None = None  # Number mode: how long the page says finding and reading took


@dataclass
class Run:
    """What one script run drew: headings, exceptions, widgets, how it finished."""

    headings: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    texts: list = field(default_factory=list)  # markdown and captions
    exceptions: list = field(default_factory=list)
    widgets: dict = field(default_factory=dict)
    bytes: int = 0
    refs: int = 0  # elements sent as a reference to the client's cache
    page_script_hash: str = ""
    status: int | None = None


class Session:
    def __init__(self, base_url: str, template: dict, page: str = "draw", mode: str = DIGIT):
        self.base = base_url.rstrip("/")
        self.mode = mode
        self.page = page
        self.page_url = f"{self.base}/{page}"
        self.template = template
        self.ws = None
        self.page_script_hash = ""
        self.widgets: dict = {}
        self.fragment: tuple[str, float] | None = None  # (id, seconds) the server asked to auto-rerun
        self.cache: dict[str, list] = {}  # hash of a cacheable ForwardMsg -> [runs since last used, the msg]
        self.run = Run()
        self._finished: asyncio.Queue = asyncio.Queue()
        self._reader = None
        self.closed: str | None = None

    async def connect(self) -> Run:
        """What a tab does on open: GET the page (sets the XSRF cookie), websocket with
        the token in Sec-WebSocket-Protocol, then the recorded initial rerun."""
        import websockets

        cookie = await asyncio.to_thread(self._xsrf_cookie)
        host = urllib.parse.urlsplit(self.base)
        self.ws = await websockets.connect(
            f"ws://{host.netloc}{host.path}/_stcore/stream",
            subprotocols=["streamlit", cookie],
            additional_headers={"Origin": self.base, "Cookie": f"_streamlit_xsrf={cookie}"},
            max_size=None,
            open_timeout=30,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read())
        BackMsg, _ = _protos()
        msg = BackMsg()
        msg.CopyFrom(self.template["load"])
        msg.rerun_script.page_name = self.page
        msg.rerun_script.context_info.url = self.page_url
        await self.ws.send(msg.SerializeToString())
        run = await self.finished(STROKE_TIMEOUT)
        if self.mode != DIGIT and not run.exceptions:  # the page opens in Digit mode: switch, as a click does
            run = await self.replay("stroke", fragment_id="")  # a whole-page rerun: the mode is outside the fragment
        return run

    def _xsrf_cookie(self) -> str:
        """The browser's first requests: the page's HTML, then /_stcore/health, whose
        response sets the _streamlit_xsrf cookie."""
        urllib.request.urlopen(self.page_url, timeout=30).read()
        with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=30) as r:
            for header in r.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                if name.strip() == "_streamlit_xsrf":
                    return rest.split(";", 1)[0]
        raise RuntimeError(f"{self.base}/_stcore/health set no _streamlit_xsrf cookie (is XSRF protection off?)")

    async def _read(self) -> None:
        _, ForwardMsg = _protos()
        try:
            async for frame in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(frame)
                self.run.bytes += len(frame)
                kind = msg.WhichOneof("type")
                if msg.metadata.cacheable:  # the browser keeps these; the server may then send a ref_hash
                    self.cache[msg.hash] = [0, msg]
                if kind == "ref_hash":  # an element this client holds: read it from the cache, as the browser does
                    self.run.refs += 1
                    if msg.ref_hash not in self.cache:
                        self.run.exceptions.append(f"ref_hash to a message this client never got: {msg.ref_hash}")
                        continue
                    self.cache[msg.ref_hash][0] = 0
                    msg, kind = self.cache[msg.ref_hash][1], "delta"
                if kind == "new_session":
                    self.run = Run(bytes=len(frame))  # a script run starts
                    self.fragment = None  # the run names its auto-rerunning fragments again
                    self.run.page_script_hash = msg.new_session.page_script_hash
                elif kind == "navigation" and msg.navigation.page_script_hash:
                    # With st.navigation the page's hash comes here: on a fresh server the first
                    # run's new_session names pages/draw.py run alone (pages-folder mode) and
                    # app.py's rerun sends no new_session (see pages/shared.py).
                    self.run.page_script_hash = msg.navigation.page_script_hash
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    el = msg.delta.new_element
                    kind_el = el.WhichOneof("type")
                    if kind_el == "heading":
                        self.run.headings.append(el.heading.body)
                    elif kind_el == "alert":
                        self.run.alerts.append(el.alert.body)
                    elif kind_el == "markdown":
                        self.run.texts.append(el.markdown.body)
                    elif kind_el == "exception":
                        self.run.exceptions.append(el.exception.message or el.exception.type)
                    widget = element_widget(el)
                    if widget and widget_key(widget[0]):
                        self.run.widgets[widget_key(widget[0])] = widget
                elif kind == "auto_rerun":
                    self.fragment = (msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
                elif kind == "stop_auto_rerun":
                    self.fragment = None
                elif kind == "script_finished":
                    status = msg.script_finished
                    if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # st.rerun(): the same run goes on, the answer comes later
                    run, self.run = self.run, Run()
                    run.status = status
                    if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                        self.widgets.update(run.widgets)  # a fragment redraws its own part only
                    else:
                        self.cache = {
                            h: [age + 1, m] for h, (age, m) in self.cache.items() if age + 1 <= MAX_CACHED_AGE
                        }
                    if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                        self.widgets = run.widgets  # what the page shows now
                        self.page_script_hash = run.page_script_hash or self.page_script_hash
                    self._finished.put_nowait(run)
                elif kind == "page_not_found":
                    self.run.exceptions.append(f"page not found: {msg.page_not_found.page_name}")
        except Exception as exc:  # the connection dropped: whoever waits hears it
            self.closed = repr(exc)
        else:
            self.closed = "the server closed the connection"
        self._finished.put_nowait(None)

    async def finished(self, timeout: float) -> Run:
        run = await asyncio.wait_for(self._finished.get(), timeout)
        if run is None:
            raise ConnectionError(self.closed)
        return run

    def _drain(self) -> None:
        """Forget runs that finished after their sender stopped waiting (a timed-out stroke),
        so the next message is matched with its own run."""
        while not self._finished.empty():
            if self._finished.get_nowait() is None:
                self._finished.put_nowait(None)  # the connection is gone: keep saying so
                return

    async def replay(self, name: str, fragment_id: str | None = None) -> Run:
        """Send the recorded message `name` made this session's; the run it causes."""
        self._drain()
        msg = stroke_msg(
            self.template[name],
            self.page_script_hash,
            self.widgets,
            self.page_url,
            None,
            list(self.cache),
            fragment_id,
            self.mode,
        )
        await self.ws.send(msg.SerializeToString())
        return await self.finished(STROKE_TIMEOUT)

    async def stroke(self, drawing_url: str, label: str | None) -> Result:
        """Send a drawing of ``label`` (a digit, or in Number mode a number, as text)."""
        self._drain()
        msg = stroke_msg(
            self.template["stroke"],
            self.page_script_hash,
            self.widgets,
            self.page_url,
            drawing_url,
            list(self.cache),
            mode=self.mode,
        )
        result = Result(sent_at=time.perf_counter())
        await self.ws.send(msg.SerializeToString())
        try:
            run = await self.finished(STROKE_TIMEOUT)
        except TimeoutError:
            result.error = f"no script_finished within {STROKE_TIMEOUT:.0f} s"
            return result
        except ConnectionError as exc:
            result.error = f"connection lost: {exc}"
            return result
        result.seconds = time.perf_counter() - result.sent_at
        result.bytes = run.bytes
        result.refs = run.refs
        answers = [h for h in run.headings if ANSWER.match(h)]
        result.answer = answers[-1] if answers else None
        timed = [float(m.group(1)) for t in run.texts if (m := READ_MS.search(t))]
        result.read_ms = timed[-1] if timed else None
        if run.exceptions:
            result.error = f"exception on the page: {run.exceptions[0]}"
        elif run.status not in FINISHED_OK:
            result.error = f"script finished with status {run.status}"
        elif result.answer is None and REFUSED in run.headings:
            result.error = "wrong answer: refused as not a digit"  # the model's answer, not a failure
        elif result.answer is None:
            result.error = (
                f"no prediction heading in the rerun (headings {run.headings}, alerts {run.alerts}, {run.bytes} bytes)"
            )
        elif label is not None and result.answer != f"{'Number' if self.mode == NUMBER else 'Prediction'}: {label}":
            result.error = f"wrong answer: {result.answer!r} for a drawn {label}"
        return result

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, Exception):
                self._reader.cancel()


# ---------------------------------------------------------------------------------------
# Servers: started here, or found by port; CPU and memory from /proc
# ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: Path, log_path: Path, timeout: float = 90.0) -> tuple[str, subprocess.Popen]:
    """`streamlit run app.py` on a free loopback port, serving `runs_dir`."""
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed when the server stops)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "CNN_RUNS_DIR": str(runs_dir), "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return url, proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc, runs_dir)
            raise RuntimeError(f"streamlit did not start; see {log_path}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen, runs_dir: Path | None = None) -> None:
    """Stop the server, and the training worker it started for ``runs_dir`` (its own process)."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if runs_dir is not None:
        from cnn.jobs import default_db, stop_workers

        stop_workers(default_db(runs_dir))


def listening_pid(port: int) -> int | None:
    """The pid of the local process listening on TCP `port` (via /proc), if we may see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(parts[9])
    targets = {f"socket:[{i}]" for i in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    return int(pid)
        except OSError:
            continue
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (TensorFlow's included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat): with the server's and our
    own, it shows how much of the machine other work took during the run."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"--url {url}: loopback only (127.0.0.1 or localhost)")


# ---------------------------------------------------------------------------------------
# The classroom
# ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (k - lo)


async def student(
    session: Session, pool: list, rng: random.Random, start: float, more, interval: float, results: list
) -> None:
    due = start + rng.uniform(0, interval)  # students do not all start on the same tick
    while more(due):
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        late = time.perf_counter() - due > 0.1
        url, label = rng.choice(pool)
        result = await session.stroke(url, label)
        result.late = late
        result.base = session.base
        results.append(result)
        if result.error and result.error.startswith("connection lost"):
            return
        due += interval * rng.uniform(0.5, 1.5)


async def teach(base: str, template: dict, runs_dir: Path, say) -> dict:
    """A teacher's tab on /train: press Start (the recorded form: the fast default), then
    rerun the live fragment whenever the server asks (every 0.5 s), as the browser does,
    until the job has saved its run. Returns the saved run.json's images_per_s (training
    throughput, validation excluded) and how long the job took."""
    before = {p.name for p in runs_dir.iterdir()}
    tab = Session(base, template, page="train")
    run = await tab.connect()
    if "start" not in tab.widgets:
        raise RuntimeError(f"the Train page shows no Start button: {run.exceptions or run.alerts}")
    started = time.perf_counter()
    run = await tab.replay("train_start")
    if run.exceptions:
        raise RuntimeError(f"pressing Start failed: {run.exceptions}")
    fragment_runs = 0
    try:
        while time.perf_counter() - started < TRAIN_TIMEOUT:
            new = [p for p in runs_dir.iterdir() if p.name not in before and (p / "run.json").exists()]
            if new:
                meta = json.loads((new[0] / "run.json").read_text())
                return {
                    "images_per_s": meta["images_per_s"],
                    "job_s": round(time.perf_counter() - started, 1),
                    "started": started,
                    "ended": time.perf_counter(),
                    "train_s": round(meta["train_seconds"], 1),
                    "status": meta["status"],
                    "test_accuracy": meta["test"].get("accuracy"),
                    "fragment_reruns": fragment_runs,
                }
            if tab.fragment is None:
                await asyncio.sleep(0.5)  # between the job's end and its saved run: no fragment
                continue
            fragment_id, interval = tab.fragment
            sent = time.perf_counter()
            run = await tab.replay("train_fragment", fragment_id)
            fragment_runs += 1
            if run.exceptions:
                raise RuntimeError(f"the Train page's live view failed: {run.exceptions}")
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - sent)))
        raise RuntimeError(f"the training job saved no run within {TRAIN_TIMEOUT:.0f} s")
    finally:
        await tab.close()


async def keep_training(base: str, template: dict, runs_dir: Path, say, until: float) -> list[dict]:
    """The teacher starts the fast default again each time a job ends, until ``until``
    (perf_counter), so that a job trains for the whole of a long run; each job's ``teach``."""
    jobs = [await teach(base, template, runs_dir, say)]
    while time.perf_counter() < until:
        jobs.append(await teach(base, template, runs_dir, say))
    return jobs


async def calibrate(session: Session, drawings: list) -> tuple[list, list]:
    """Send every drawing once; keep those the served model reads right."""
    keep, dropped = [], []
    for url, label in drawings:
        r = await session.stroke(url, label)
        if r.error and not r.error.startswith("wrong answer"):
            raise RuntimeError(f"calibration stroke failed: {r.error}")
        (dropped if r.error else keep).append((url, label) if not r.error else (label, r.answer))
    return keep, dropped


async def classroom(
    urls: list[str],
    sessions: int,
    duration: float,
    interval: float,
    drawings: list,
    seed: int,
    pids: list[int],
    template: dict,
    train_runs: Path | None = None,
    say=print,
    cold_start: bool = False,
    mode: str = DIGIT,
) -> dict:
    """Connect `sessions` tabs (spread round-robin over `urls`) in the Draw page's `mode`,
    calibrate, then draw for `duration` seconds. With `train_runs` (the served runs folder), a teacher first
    trains alone (the students' tabs open but idle), then again and again while the students
    draw; they draw until the last job has saved its run, if it outlasts `duration`."""
    rng = random.Random(seed)
    tabs = [Session(urls[i % len(urls)], template, mode=mode) for i in range(sessions)]
    canvas = "number_canvas" if mode == NUMBER else "canvas"
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(4)  # tabs open a few at a time, as a class arriving

    async def open_tab(tab) -> tuple[Session, str | None]:
        async with gate:
            try:
                run = await tab.connect()
            except (TimeoutError, OSError, ConnectionError) as exc:
                return tab, f"the Draw page did not load on {tab.base}: {exc!r}"
            if run.exceptions or canvas not in run.widgets:
                return tab, f"the Draw page did not load on {tab.base}: {run.exceptions or run.headings}"
            return tab, None

    waves = [tabs]
    if not cold_start:  # the teacher opens the app first (as tests/test_browser_draw.py does), then the class
        first = list({t.base: t for t in reversed(tabs)}.values())
        waves = [first, [t for t in tabs if t not in first]]
    opened = []
    for wave in waves:
        opened += await asyncio.gather(*(open_tab(t) for t in wave))
    load_errors = [e for _, e in opened if e]
    failed = [t for t, e in opened if e]
    tabs = [t for t in tabs if t not in failed]
    await asyncio.gather(*(t.close() for t in failed), return_exceptions=True)
    if not tabs:
        raise RuntimeError(f"no tab could open the Draw page: {load_errors[:3]}")
    connect_s = time.perf_counter() - t0
    pool, dropped = list(drawings), []
    for base in dict.fromkeys(t.base for t in tabs):  # each server loads the model on its first drawing
        keep, drop = await calibrate(next(t for t in tabs if t.base == base), drawings)
        pool = [d for d in pool if d in keep]  # right on every server
        dropped += [d for d in drop if d not in dropped]
    if not pool:
        raise RuntimeError(f"the model read none of the {len(drawings)} drawings right: {dropped[:5]}")
    alone = None
    if train_runs is not None:
        say("training alone (the fast default, started with the Train page's Start button) ...")
        alone = await teach(urls[0], template, train_runs, say)
        say(f"  alone: {alone['images_per_s']:,.0f} images/s; now with {sessions} students drawing ...")

    results: list[Result] = []
    cpu0 = {pid: cpu_seconds(pid) for pid in pids}
    me0 = os.times()
    machine0 = machine_busy_seconds()
    start = time.perf_counter()
    side = None
    if train_runs is not None:
        side = asyncio.create_task(keep_training(urls[0], template, train_runs, say, start + duration))

    def more(now: float) -> bool:  # students draw for `duration`, and on while the last job lasts
        return now < start + duration or (side is not None and not side.done() and now < start + TRAIN_TIMEOUT)

    await asyncio.gather(*(student(t, pool, random.Random(rng.random()), start, more, interval, results) for t in tabs))
    elapsed = time.perf_counter() - start
    cpu = {pid: cpu_seconds(pid) - cpu0[pid] for pid in pids}
    me1 = os.times()
    machine = machine_busy_seconds() - machine0
    rss = {pid: rss_mb(pid) for pid in pids}
    busy = await side if side else None  # the jobs trained while the students drew
    await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)

    ok = [r for r in results if r.error is None]
    errors = [r.error for r in results if r.error] + load_errors
    timed = [r.seconds for r in results if r.seconds is not None]
    report = {
        "mode": mode,
        "sessions": sessions,
        "urls": urls,
        "duration_s": round(elapsed, 1),
        "connect_s": round(connect_s, 1),
        "drawings": len(drawings),
        "calibration_dropped": [list(d) for d in dropped],
        "strokes": len(results),
        "answered_right": len(ok),
        "errors": len(errors),
        "load_errors": len(load_errors),
        "error_samples": sorted(set(errors))[:5],
        "late_strokes": sum(r.late for r in results),
        "strokes_per_s": round(len(results) / elapsed, 2),
        "p50_ms": round(percentile(timed, 50) * 1000, 1),
        "p95_ms": round(percentile(timed, 95) * 1000, 1),
        "p99_ms": round(percentile(timed, 99) * 1000, 1),
        "max_ms": round(max(timed, default=float("nan")) * 1000, 1),
        "mean_ms": round(statistics.fmean(timed) * 1000, 1) if timed else float("nan"),
        "read_ms_p50": percentile([r.read_ms for r in ok if r.read_ms is not None], 50),
        "read_ms_p95": percentile([r.read_ms for r in ok if r.read_ms is not None], 95),
        "bytes_per_stroke": round(statistics.fmean([r.bytes for r in ok])) if ok else 0,
        "cached_elements_per_stroke": round(statistics.fmean([r.refs for r in ok]), 2) if ok else 0,
        "per_url": {
            base: {
                "strokes": len(rs),
                "errors": sum(r.error is not None for r in rs),
                "p50_ms": round(percentile([r.seconds for r in rs if r.seconds is not None], 50) * 1000, 1),
                "p95_ms": round(percentile([r.seconds for r in rs if r.seconds is not None], 95) * 1000, 1),
            }
            for base in dict.fromkeys(r.base for r in results)
            for rs in [[r for r in results if r.base == base]]
        },
        "server_cpu_s": {str(p): round(c, 2) for p, c in cpu.items()},
        "server_cpu_ms_per_stroke": round(sum(cpu.values()) * 1000 / len(results), 1) if results and pids else None,
        "server_cores_busy": round(sum(cpu.values()) / elapsed, 2) if pids else None,
        "server_rss_mb": {str(p): round(r[0]) for p, r in rss.items()},
        "server_peak_rss_mb": {str(p): round(r[1]) for p, r in rss.items()},
        "client_cores_busy": round((me1.user - me0.user + me1.system - me0.system) / elapsed, 2),
        "machine_cores_busy": round(machine / elapsed, 2),
        "cores": os.cpu_count(),
        "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
    }
    if busy is not None:
        during = [
            r.seconds
            for r in results
            if r.seconds is not None and any(job["started"] <= r.sent_at < job["ended"] for job in busy)
        ]
        speed = statistics.median(job["images_per_s"] for job in busy)
        report["train"] = {
            "alone": alone,
            "with_students": busy,
            "images_per_s_with_students": round(speed),
            "slowdown": round(alone["images_per_s"] / speed, 2),
            "strokes_during_job": len(during),
            "p50_ms_during_job": round(percentile(during, 50) * 1000, 1),
            "p95_ms_during_job": round(percentile(during, 95) * 1000, 1),
            "p99_ms_during_job": round(percentile(during, 99) * 1000, 1),
        }
    return report


def print_report(r: dict) -> None:
    print(
        f"\n{r['sessions']} sessions ({r['mode']} mode) over {len(r['urls'])} server(s), {r['duration_s']} s "
        f"(connected in {r['connect_s']} s); pool {r['drawings'] - len(r['calibration_dropped'])}"
        f"/{r['drawings']} drawings the model reads right"
    )
    print(
        f"strokes {r['strokes']} ({r['strokes_per_s']}/s), answered right {r['answered_right']}, "
        f"errors {r['errors']} (tabs that could not open the page: {r['load_errors']}), "
        f"sent late {r['late_strokes']}"
    )
    print(
        f"latency ms: p50 {r['p50_ms']}  p95 {r['p95_ms']}  p99 {r['p99_ms']}  max {r['max_ms']}  (mean {r['mean_ms']})"
    )
    if r["mode"] == NUMBER:
        print(
            f"  of which finding and reading the digits (the page's own timing of read_number): "
            f"p50 {r['read_ms_p50']:.0f} ms  p95 {r['read_ms_p95']:.0f} ms"
        )
    if len(r["per_url"]) > 1:
        for base, u in r["per_url"].items():
            print(f"  {base}: {u['strokes']} strokes, {u['errors']} errors, p50 {u['p50_ms']} ms, p95 {u['p95_ms']} ms")
    print(
        f"ForwardMsg bytes per stroke: {r['bytes_per_stroke']:,} (elements sent as a reference to the "
        f"client's cache: {r['cached_elements_per_stroke']} per stroke)"
    )
    if r["server_cpu_ms_per_stroke"] is not None:
        print(
            f"server CPU: {r['server_cpu_ms_per_stroke']} ms per stroke"
            f"{' (the training job included)' if 'train' in r else ''}, {r['server_cores_busy']} cores busy "
            f"(per pid {r['server_cpu_s']} s); RSS MB {r['server_rss_mb']} (peak {r['server_peak_rss_mb']})"
        )
    print(
        f"client (this process) CPU: {r['client_cores_busy']} cores busy; the whole machine: "
        f"{r['machine_cores_busy']} of {r['cores']} cores busy (load average {' '.join(r['loadavg_end'])})"
    )
    for e in r["error_samples"]:
        print("error:", e)
    if r.get("server_log"):
        print("server log (kept):", r["server_log"])
    if "train" in r:
        a, b = r["train"]["alone"], r["train"]["with_students"]
        each = ", ".join(f"{job['images_per_s']:,.0f}" for job in b)
        print(
            f"training (fast default via the Train page, run.json images_per_s): {a['images_per_s']:,.0f} "
            f"images/s alone ({a['job_s']} s), {r['train']['images_per_s_with_students']:,.0f} images/s with the "
            f"class drawing (median of {len(b)} jobs, one after another: "
            f"{each}) -> slowed {r['train']['slowdown']:.2f}x"
        )
        t = r["train"]
        print(
            f"strokes sent while the job ran: {t['strokes_during_job']}, p50 {t['p50_ms_during_job']} ms, "
            f"p95 {t['p95_ms_during_job']} ms, p99 {t['p99_ms_during_job']} ms"
        )


# ---------------------------------------------------------------------------------------
# Models and drawings
# ---------------------------------------------------------------------------------------


def ensure_runs_dir(runs_dir: Path, run_id: str | None, workdir: Path) -> Path:
    """The runs folder to serve: `runs_dir` (after training the fast default into it if it
    holds no usable run), or with `run_id` a folder holding only that run."""
    from cnn.store import get_run, list_runs

    runs_dir.mkdir(parents=True, exist_ok=True)
    if run_id:
        run = get_run(run_id, runs_dir)
        only = workdir / "runs"
        only.mkdir()
        shutil.copytree(run.path, only / run.path.name)
        return only
    if not [r for r in list_runs(runs_dir) if not r.damaged]:
        print(f"no saved run in {runs_dir}: training the fast default once (python -m cnn train) ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "cnn", "train", "--name", "classroom load"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "CNN_RUNS_DIR": str(runs_dir), "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
    return runs_dir


def make_drawings(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` drawings of one digit on the 280x280 canvas, each with its digit."""
    from cnn.drawings import drawn_set

    images, labels = drawn_set(n, seed=seed)
    return [(data_url(a), str(y)) for a, y in zip(images, labels)]


def make_numbers(n: int, seed: int, digits: int = 6) -> list[tuple[str, str]]:
    """`n` drawings of a `digits`-digit number on the Number mode's 700x280 canvas, each
    with its number: `drawn_set`'s digits cut to their ink, scaled to one height (150 px,
    +-10% each), 8-20 px apart, the row shrunk to fit 680 px, each moved up or down a little."""
    import numpy as np
    from PIL import Image

    from cnn.drawings import drawn_set

    images, labels = drawn_set(n * digits, seed=seed)
    rng = random.Random(seed)
    out = []
    for k in range(n):
        crops = []
        for a in images[k * digits : (k + 1) * digits, :, :, 3]:
            ys, xs = a.any(axis=1).nonzero()[0], a.any(axis=0).nonzero()[0]
            crop = Image.fromarray(a[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1])
            h = round(150 * rng.uniform(0.9, 1.1))
            crops.append(crop.resize((max(1, round(crop.width * h / crop.height)), h), Image.BILINEAR))
        gaps = [rng.randint(8, 20) for _ in crops[1:]]
        shrink = min(1.0, (680 - sum(gaps)) / sum(c.width for c in crops))
        canvas = Image.new("L", (700, 280))
        left = 10
        for crop, gap in zip(crops, [*gaps, 0]):
            crop = crop.resize((max(1, round(crop.width * shrink)), max(1, round(crop.height * shrink))))
            canvas.paste(crop, (left, rng.randint(5, 275 - crop.height)))
            left += crop.width + gap
        rgba = np.zeros((280, 700, 4), np.uint8)
        rgba[:, :, 3] = np.asarray(canvas)
        out.append((data_url(rgba), "".join(str(y) for y in labels[k * digits : (k + 1) * digits])))
    return out


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def run_benchmark(
    *,
    sessions: int,
    duration: float,
    urls: list[str] | None = None,
    runs_dir: Path | None = None,
    run_id: str | None = None,
    interval: float = 1.5,
    n_drawings: int = 40,
    seed: int = 7,
    server_pids: list[int] | None = None,
    train: bool = False,
    template_path: Path = TEMPLATE,
    quiet: bool = False,
    cold_start: bool = False,
    number: bool = False,
) -> dict:
    """Start a server (unless `urls`), run the classroom, return the report dict. With
    `number`, the students write 6-digit numbers in the Draw page's Number mode."""
    template = load_template(template_path)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    workdir = Path(tempfile.mkdtemp(prefix="classroom-load-"))
    proc = report = None
    try:
        if urls:
            for u in urls:
                check_loopback(u)
            pids = list(server_pids or []) or [
                p for p in (listening_pid(urllib.parse.urlsplit(u).port or 80) for u in urls) if p
            ]
            if train:
                raise SystemExit("--train needs the benchmark's own server (no --url)")
        else:
            served = ensure_runs_dir(Path(runs_dir or os.environ.get("CNN_RUNS_DIR") or ROOT / "runs"), run_id, workdir)
            if train:  # the jobs save runs: serve a copy of the students' model only, marked the class model
                from cnn.store import best_run, set_class_model

                model = best_run(served)
                if run_id is None:
                    served = ensure_runs_dir(served, model.id, workdir)
                set_class_model(model.id, served)
            url, proc = start_server(served, workdir / "streamlit.log")
            say(f"server {url} (pid {proc.pid}, log {workdir / 'streamlit.log'}), runs {served}")
            urls, pids = [url], [proc.pid]
        say(f"drawing {n_drawings} {'6-digit numbers' if number else 'digits'} (seed {seed}) ...")
        drawings = (make_numbers if number else make_drawings)(n_drawings, seed)
        say(f"{sessions} sessions, {duration:.0f} s, one stroke per ~{interval} s each ...")
        report = asyncio.run(
            classroom(
                urls,
                sessions,
                duration,
                interval,
                drawings,
                seed,
                pids,
                template,
                served if train else None,
                say,
                cold_start,
                NUMBER if number else DIGIT,
            )
        )
        if proc is not None and proc.poll() is not None:
            report["errors"] += 1
            report["error_samples"].append(f"the server exited with {proc.returncode}")
        if proc is not None and report["errors"]:
            report["server_log"] = str(workdir / "streamlit.log")  # kept: the tracebacks are there
        return report
    finally:
        if proc is not None:
            stop_server(proc, served)
        if report is None or not report["errors"] or proc is None:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", "-n", type=int, default=30, help="students (websocket sessions)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of drawing (after connecting)")
    parser.add_argument("--interval", type=float, default=1.5, help="mean seconds between one student's strokes")
    parser.add_argument(
        "--url",
        action="append",
        help="an already running app (repeat: sessions are spread "
        "round-robin); default: start `streamlit run app.py` here",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        help="process(es) whose CPU/RSS to report with --url (default: whoever listens on its port)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="runs folder to serve (default: $CNN_RUNS_DIR or runs/); "
        "the fast default is trained into it first if it holds no run",
    )
    parser.add_argument("--run", help="serve only this run (from --runs-dir)")
    parser.add_argument("--drawings", type=int, default=40, help="distinct drawings (before calibration)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--train",
        action="store_true",
        help="start a training job through the Train page "
        "meanwhile, and compare its images/s with the same job trained alone",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="open every tab at once, even the first "
        "on a fresh server (default: one tab per server first, then the others)",
    )
    parser.add_argument(
        "--number", action="store_true", help="write 6-digit numbers in the Draw page's Number mode (700x280 canvas)"
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--record", action="store_true", help=f"re-record {TEMPLATE.name} with Chromium and exit")
    args = parser.parse_args()
    if args.record:
        from benchmarks.classroom_record import record  # noqa: PLC0415

        record(TEMPLATE, runs_dir=args.runs_dir)
        return
    report = run_benchmark(
        sessions=args.sessions,
        duration=args.duration,
        urls=args.url,
        runs_dir=args.runs_dir,
        run_id=args.run,
        interval=args.interval,
        n_drawings=args.drawings,
        seed=args.seed,
        server_pids=args.server_pid,
        train=args.train,
        cold_start=args.cold_start,
        number=args.number,
    )
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
