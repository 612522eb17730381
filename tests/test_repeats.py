"""Differences you can trust: settings repeated over seeds, their mean and spread, verdicts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cnn import records, repeats
from cnn.config import TrainConfig
from cnn.store import RunInfo

ROOT = Path(__file__).resolve().parent.parent
BASE = TrainConfig(epochs=1, train_size=2000)


def fake(i: int, accuracy: float, **knobs) -> RunInfo:
    """A listed run with this accuracy (what the statistics read; no model needed)."""
    test = records.TestMetrics(
        accuracy=accuracy, loss=0.1, confusion=[[0] * 10] * 10, misclassified=[], predicted=[], confidence=[]
    )
    return RunInfo(
        id=f"run-{i}",
        path=Path("/nowhere") / f"run-{i}",
        name=f"run {i}",
        config=BASE.replace(seed=i, **knobs),
        test=test,
    )


def test_runs_that_differ_only_by_seed_are_one_setting_with_mean_and_spread():
    runs = [fake(1, 0.980), fake(2, 0.984), fake(3, 0.982), fake(4, 0.990, dropout=0.5)]
    first, second = repeats.settings(runs)
    assert first.n == 3 and first.mean == pytest.approx(0.982) and first.spread == pytest.approx(0.004)
    assert first.std == pytest.approx(0.002) and second.n == 1 and second.std == 0.0


def test_a_difference_inside_the_seeds_noise_is_called_noise_and_a_large_one_real():
    noisy = [fake(1, 0.980), fake(2, 0.986), fake(3, 0.983)]
    close = [fake(4, 0.984, dropout=0.4), fake(5, 0.981, dropout=0.4), fake(6, 0.987, dropout=0.4)]
    far = [fake(7, 0.995, dropout=0.1), fake(8, 0.996, dropout=0.1), fake(9, 0.9955, dropout=0.1)]
    by_dropout = {
        v.b.config.dropout: v
        for v in repeats.verdicts(repeats.settings(noisy + close + far))
        if v.a.config.dropout == 0.25 or v.b.config.dropout == 0.25
    }
    assert not by_dropout[0.4].real and "within the noise" in by_dropout[0.4].words
    verdict = next(v for v in repeats.verdicts(repeats.settings(noisy + far)))
    assert verdict.knob == "dropout" and verdict.real and "a real difference" in verdict.words
    alone = repeats.verdict(*repeats.settings([fake(1, 0.98)]) * 2, "dropout")
    assert alone.noise == 0 and not alone.real


def test_settings_two_knobs_apart_are_not_compared():
    runs = [fake(1, 0.98), fake(2, 0.99), fake(3, 0.97, dropout=0.5, filters=32)]
    assert repeats.verdicts(repeats.settings(runs)) == []


def test_the_compare_page_shows_repeated_settings_and_says_when_a_difference_is_noise(tiny_result, runs_dir):
    from streamlit.testing.v1 import AppTest

    from cnn.store import save_run

    result = tiny_result[0]
    for seed, accuracy in ((1, 0.95), (2, 0.953), (3, 0.951)):
        save_run(
            dataclasses.replace(
                result,
                config=result.config.replace(seed=seed),
                test=dataclasses.replace(result.test, accuracy=accuracy),
            ),
            f"seed {seed}",
        )
    for seed, accuracy in ((1, 0.952), (2, 0.949)):
        config = result.config.replace(seed=seed, dropout=0.4)
        save_run(
            dataclasses.replace(result, config=config, test=dataclasses.replace(result.test, accuracy=accuracy)),
            f"dropout 0.4 seed {seed}",
        )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if list(d.value.columns)[:2] == ["name", "seeds"])
    assert sorted(table["seeds"]) == [2, 3]
    assert any("within the noise" in i.value for i in at.info), [i.value for i in at.info]
    chart = json.loads(next(c for c in at.get("plotly_chart") if c.key == "what_mattered").proto.spec)
    assert any(t["name"].endswith(": mean") for t in chart["data"])  # each value's mean and spread
