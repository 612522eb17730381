"""A classroom on one server: N students drawing while one training job runs.

    python benchmarks/load_test.py                 # 30 users, ~2 minutes
    python benchmarks/load_test.py --users 10 --run RUN_ID

Each simulated user classifies a drawing about once a second through the Draw page's
own path: the canvas's PNG data URL decoded as the component does, then
``classifier_for(run).classify(image)`` on the model shared by every session. Meanwhile
one training job runs through the same queue the Train page uses (so in its worker
process; the classifications run in this one, as in the web server). Prints latency
p50/p95/max, errors, and the job's training images/s against the same job run alone.
Targets: p95 <= 150 ms, zero errors, training slowed by at most 2x.
"""

from __future__ import annotations

import argparse
import base64
import io
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import run_or_train
from PIL import Image

from cnn.config import PRESETS
from cnn.drawings import drawn_set
from cnn.imagefile import decode_image
from cnn.jobs import JobQueue
from cnn.predict import classifier_for
from cnn.train import train

JOB = PRESETS["fast default"].replace(epochs=1, train_size=24000)


def data_url(rgba: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def decode(url: str) -> np.ndarray:
    """What the Draw page does with the PNG the browser sends (CanvasResult.image_bytes, then decode_image)."""
    return decode_image(base64.b64decode(url.split(";base64,", 1)[1]))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def student(run, drawings, labels, stop: threading.Event, latencies: list, errors: list, wrong: list, seed: int):
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 1.0))  # students do not all start on the same tick
    while not stop.is_set():
        i = rng.randrange(len(drawings))
        started = time.perf_counter()
        try:
            prediction = classifier_for(run).classify(decode(drawings[i]))
            latencies.append((time.perf_counter() - started) * 1000)
            if prediction is None or prediction.digit != labels[i]:
                wrong.append(i)
        except Exception as exc:  # the point is to count them
            errors.append(repr(exc))
        stop.wait(rng.uniform(0.7, 1.3))  # about one stroke a second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--run", help="run id to classify with (default: the best saved run, else one trained now)")
    args = parser.parse_args()

    runs_root = Path(tempfile.mkdtemp(prefix="load-test-runs-"))
    run = run_or_train(args.run)
    classifier_for(run)  # loaded once, as the first student's stroke would
    images, labels = drawn_set(60, seed=7)
    drawings = [data_url(a) for a in images]

    print(f"training alone: {JOB.train_size} images, 1 epoch ...", flush=True)
    alone = train(JOB).images_per_s

    queue = JobQueue(workers=1, runs_root=runs_root)
    job = queue.submit("teacher", JOB, "load test job", one_at_a_time=False)
    latencies: list[float] = []
    errors: list[str] = []
    wrong: list[int] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=student, args=(run, drawings, labels, stop, latencies, errors, wrong, s))
        for s in range(args.users)
    ]
    print(f"{args.users} students drawing while the same job trains ...", flush=True)
    started = time.perf_counter()
    for t in threads:
        t.start()
    while not (job := queue.get(job.id)).ended:
        queue.touch("teacher")
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    queue.shutdown()
    print("training alone again (before and after, so warm-up favours neither) ...", flush=True)
    alone = (alone + train(JOB).images_per_s) / 2

    if job.outcome is None:
        print(f"the training job failed: {job.error}")
        sys.exit(1)
    busy = job.outcome.images_per_s
    print(
        f"\n{len(latencies)} classifications in {seconds:.0f} s by {args.users} users "
        f"({len(latencies) / seconds:.1f}/s); {len(errors)} errors; {len(wrong)} wrong or no-digit answers"
    )
    print(
        f"latency ms: p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
        f"max {max(latencies, default=float('nan')):.1f}  (mean {statistics.fmean(latencies):.1f})"
    )
    print(
        f"training: {alone:,.0f} images/s alone (mean of before and after), "
        f"{busy:,.0f} images/s with the class drawing "
        f"-> slowed {alone / busy:.2f}x"
    )
    for e in errors[:5]:
        print("error:", e)


if __name__ == "__main__":
    main()
