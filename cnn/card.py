"""A model card for a saved run: what it is, what it learnt from, how it was trained, how well
it reads MNIST, drawings unlike MNIST's and the class's own, and the machine it ran on.

``card(run, ...)`` gives the facts as a dict (``model_card.json``) and ``markdown(facts)``
the same for people (``MODEL_CARD.md``); both travel with the model in a run's download.
"""

from __future__ import annotations

from typing import Any

from cnn.config import knob_range
from cnn.store import RunInfo


def card(run: RunInfo, drawn_accuracy: float | None = None, class_accuracy: float | None = None) -> dict[str, Any]:
    config = run.config
    return {
        "run": run.id,
        "name": run.name,
        "created": run.created,
        "trained_by": run.owner_name or "the teacher",
        "model": {"layers": run.summary, "parameters": run.parameters, "architecture": config.architecture},
        "data": {
            "source": "MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0",
            "training_images": config.fit_images,
            "validation_images": config.validation_images,
            "augmentation": config.augment,
        },
        "settings": config.to_dict(),
        "training": {
            "status": run.status,
            "steps": run.steps,
            "seconds": round(run.train_seconds, 1),
            "images_per_s": round(run.images_per_s),
            "taught": run.taught,
        },
        "accuracy": {
            "mnist_test": run.test_accuracy,
            "mnist_test_per_digit": run.test.per_class_accuracy if run.test else None,
            "drawn_digits": drawn_accuracy,
            "class_drawings": class_accuracy,
        },
        "machine": run.versions,
    }


def markdown(facts: dict[str, Any]) -> str:
    """The card for people. Names are user text: shown in code spans, never as markup."""
    acc = facts["accuracy"]

    def pct(value):
        return "not measured" if value is None else f"{value:.2%}"

    settings = "\n".join(f"| {knob_range(k)['label']} | `{v}` |" for k, v in facts["settings"].items())
    taught = facts["training"]["taught"]
    lines = [
        "# Model card",
        "",
        f"Run `{facts['run']}`, named ``{_code(facts['name'])}``, trained by ``{_code(facts['trained_by'])}`` "
        f"on {facts['created']}.",
        "",
        "## Model",
        f"{facts['model']['layers']}",
        "",
        "## Data",
        f"{facts['data']['source']}: {facts['data']['training_images']:,} training and "
        f"{facts['data']['validation_images']:,} validation images; augmentation "
        f"{'on' if facts['data']['augmentation'] else 'off'}.",
        "",
        "## Settings",
        "| Setting | Value |",
        "| --- | --- |",
        settings,
        "",
        "## Training",
        f"{facts['training']['status']} after {facts['training']['steps']:,} steps in {facts['training']['seconds']} s "
        f"({facts['training']['images_per_s']:,} images/s).",
    ]
    if taught:
        lines.append(f"Taught {taught.get('drawings')} of the class's drawings, from run `{taught.get('from')}`.")
    lines += [
        "",
        "## Accuracy",
        f"- MNIST test set (10,000 digits): {pct(acc['mnist_test'])}",
        f"- Drawn digits unlike MNIST's (data/drawn-digits.npz): {pct(acc['drawn_digits'])}",
        f"- The class's labelled drawings: {pct(acc['class_drawings'])}",
        "",
        "## Machine",
        ", ".join(f"{k} {v}" for k, v in facts["machine"].items()),
        "",
    ]
    return "\n".join(lines)


def _code(text: str) -> str:
    """User text inside a double-backtick code span: never markup (backticks can't close it)."""
    return " " + str(text).replace("`", "'") + " "
