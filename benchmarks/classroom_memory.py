"""Does the server's memory stay put over a lesson? Tabs come and go while jobs train.

    python -m benchmarks.classroom_memory                       # 200 tabs, 30 trainings
    python -m benchmarks.classroom_memory --sessions 40 --trainings 5

Starts `streamlit run app.py` on a copy of the runs folder (as benchmarks/classroom_load.py
does, with the same recorded browser messages). A teacher's tab trains the fast default
through the Train page after one student has drawn (which loads TensorFlow and the model
into the server); the server's RSS after that first training is the baseline. Then
the teacher starts the next job each time one ends (``--trainings`` in all) while students
arrive in waves of WAVE tabs: each opens the Draw page, draws STROKES digits and closes
its tab, until ``--sessions`` tabs have come and gone. Streamlit keeps a closed tab's
session for a while, so the end figure is taken after the server has had SETTLE seconds
to let them go. Prints the RSS after the first training, after each wave and at the end;
the target (issue 10): the end within 100 MB of the baseline.

Loopback only; bounded by the jobs' own timeout (classroom_load.TRAIN_TIMEOUT each).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.classroom_load import (
    ROOT,
    Session,
    ensure_runs_dir,
    load_template,
    make_drawings,
    rss_mb,
    start_server,
    stop_server,
    teach,
)

WAVE = 20  # tabs open at once
STROKES = 3  # digits each tab draws before it closes
SETTLE = 30.0  # seconds after the last tab closed before the end figure


async def lesson(url: str, pid: int, served: Path, sessions: int, trainings: int, seed: int) -> dict:
    template = load_template()
    drawings = make_drawings(20, seed)
    rng = random.Random(seed)
    say = lambda *a: print(*a, flush=True)  # noqa: E731

    async def jobs() -> int:
        done = 1
        while done < trainings:
            await teach(url, template, served, say)
            done += 1
        return done

    async def tab() -> int:
        session = Session(url, template)
        try:
            await session.connect()
            right = 0
            for _ in range(STROKES):
                drawing, label = rng.choice(drawings)
                right += (await session.stroke(drawing, label)).error is None
            return right
        finally:
            await session.close()

    await tab()  # the first drawing loads TensorFlow and the model into the server
    await teach(url, template, served, say)
    baseline = rss_mb(pid)[0]
    say(f"after a first drawing and the first training: RSS {baseline:.0f} MB")
    training = asyncio.create_task(jobs())
    waves, opened = [], 0
    while opened < sessions:
        n = min(WAVE, sessions - opened)
        await asyncio.gather(*(tab() for _ in range(n)))
        opened += n
        waves.append(rss_mb(pid)[0])
        say(f"  {opened:4d} tabs opened and closed, {len(waves)} waves: RSS {waves[-1]:.0f} MB")
    trained = await training
    await asyncio.sleep(SETTLE)
    end, peak = rss_mb(pid)
    return {
        "baseline_mb": round(baseline),
        "waves_mb": [round(w) for w in waves],
        "end_mb": round(end),
        "peak_mb": round(peak),
        "growth_mb": round(end - baseline),
        "sessions": sessions,
        "trainings": trained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200, help="tabs opened and closed in all")
    parser.add_argument("--trainings", type=int, default=30, help="fast-default jobs trained one after another")
    parser.add_argument("--runs-dir", type=Path, help="runs folder to copy (default: runs/; trained if empty)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="classroom-memory-"))
    from cnn.store import best_run, set_class_model

    served = ensure_runs_dir(args.runs_dir or ROOT / "runs", None, workdir)
    served = ensure_runs_dir(served, best_run(served).id, workdir)  # a copy: the jobs save runs into it
    set_class_model(best_run(served).id, served)
    url, proc = start_server(served, workdir / "streamlit.log")
    try:
        started = time.perf_counter()
        r = asyncio.run(lesson(url, proc.pid, served, args.sessions, args.trainings, args.seed))
        print(
            f"\n{r['sessions']} tabs opened and closed, {r['trainings']} trainings, "
            f"{time.perf_counter() - started:.0f} s: server RSS {r['baseline_mb']} MB after the first training, "
            f"{r['end_mb']} MB at the end ({r['growth_mb']:+d} MB; peak {r['peak_mb']} MB)"
        )
    finally:
        stop_server(proc, served)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
