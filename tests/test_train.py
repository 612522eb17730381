import gc
import threading
import weakref

import numpy as np
import pytest

from cnn.config import ConfigError, TrainConfig
from cnn.data import load_mnist
from cnn.explain import Explainer
from cnn.model import build_model, forward
from cnn.records import History
from cnn.store import load_model, save_run
from cnn.train import SNAPSHOT_INTERVAL, evaluate, probabilities, split, train


@pytest.fixture
def tiny_run(tiny_result):
    return tiny_result


def test_a_small_config_learns_far_above_chance(tiny_run):
    result, _ = tiny_run
    assert result.test.accuracy > 0.6  # chance is 0.10; ~0.73 after these 85 steps
    assert not result.stopped and result.steps == result.config.steps_per_epoch


def test_every_step_is_recorded_and_validation_happens_at_least_ten_times(tiny_run):
    result, _ = tiny_run
    h = result.history
    assert h.step == list(range(1, result.steps + 1))
    assert len(h.loss) == len(h.accuracy) == len(h.time) == result.steps
    assert len(h.val_step) >= 10 and h.val_step[-1] == result.steps
    assert all(0.0 <= a <= 1.0 for a in h.val_accuracy)
    assert h.epoch_end_steps == [result.steps]
    # the loss falls: the last steps are far better than the first ones
    assert np.mean(h.loss[-5:]) < 0.85 * np.mean(h.loss[:5])


def test_progress_snapshots_are_at_most_four_a_second(tiny_run):
    result, snapshots = tiny_run
    assert snapshots and snapshots[-1].step == result.steps and snapshots[-1].fraction == 1.0
    gaps = [b.elapsed - a.elapsed for a, b in zip(snapshots, snapshots[1:-1])]
    assert all(gap >= SNAPSHOT_INTERVAL * 0.99 for gap in gaps)
    s = snapshots[-1]
    assert s.images_per_s > 0 and s.eta == pytest.approx(0.0, abs=1e-6) and s.val_accuracy is not None


def test_test_metrics_are_consistent(tiny_run):
    result, _ = tiny_run
    t = result.test
    confusion = np.array(t.confusion)
    assert confusion.sum() == 10000
    assert np.trace(confusion) / 10000 == pytest.approx(t.accuracy)
    assert len(t.misclassified) == len(t.predicted) == len(t.confidence) == 10000 - np.trace(confusion)
    y = load_mnist().y_test
    assert all(y[i] != p for i, p in zip(t.misclassified, t.predicted))
    assert len(t.per_class_accuracy) == 10


def test_validation_is_held_out_from_training_never_the_test_set(tiny_config):
    data = load_mnist()
    x_fit, _, x_val, _ = split(tiny_config, data)
    assert len(x_fit) + len(x_val) == tiny_config.train_size
    fit_keys = {x.tobytes() for x in x_fit}
    assert not any(x.tobytes() in fit_keys for x in x_val)


def test_stop_ends_the_run_at_the_next_step_and_keeps_a_usable_model():
    config = TrainConfig(epochs=3, train_size=6000, batch_size=32, filters=8, dense_units=32)
    stop = threading.Event()
    history = History()

    requested_at = []

    def on_progress(snapshot):
        if snapshot.step >= 150 and not stop.is_set():  # past the learning-rate warm-up
            requested_at.append(snapshot.step)
            stop.set()

    result = train(config, on_progress=on_progress, stop=stop, history=history)
    # the request came after step N had ended: step N + 1 is the last one trained
    assert result.stopped and result.steps == requested_at[0] + 1
    assert result.history is history and len(history.step) == result.steps
    assert history.val_step[-1] == result.steps  # the curve ends where the run ended
    assert evaluate(result.model).accuracy > 0.5


def test_a_stop_before_the_start_trains_nothing(tiny_config):
    stop = threading.Event()
    stop.set()
    result = train(tiny_config, stop=stop)
    assert result.stopped and result.steps == 0


def test_augmentation_changes_digits_but_keeps_them_digits():
    import tensorflow as tf

    from cnn.augment import augment

    x = tf.constant(load_mnist().x_train[:256].astype("float32")[..., None] / 255)
    config = TrainConfig(thickness=1.0)
    out = augment(x, config).numpy()
    assert out.shape == (256, 28, 28, 1) and out.min() >= 0 and out.max() <= 1.0 + 1e-6
    assert np.abs(out - x.numpy()).mean() > 0.02  # something changed
    ink_in, ink_out = x.numpy().sum((1, 2, 3)), out.sum((1, 2, 3))
    assert np.all(ink_out > 0.3 * ink_in)  # no digit vanished
    thicker = (ink_out > 1.3 * ink_in).mean()
    thinner = (ink_out < 0.9 * ink_in).mean()
    assert thicker > 0.2 and thinner > 0.2  # both thicker and thinner strokes occur
    plain = augment(
        x, TrainConfig(thickness=0.0, rotation=0.0, scale=0.0, shift=0.0, shear=0.0, aspect=0.0, soften=0.0)
    ).numpy()
    np.testing.assert_allclose(plain, x.numpy(), atol=1e-5)


@pytest.mark.parametrize("preset", ["seed tutorial", "keras mnist_cnn", "best accuracy"])
def test_the_classic_layouts_train_too(preset):
    from cnn.config import PRESETS

    config = PRESETS[preset].replace(epochs=1, train_size=600, batch_size=32)
    if preset == "best accuracy":  # three blocks need more than 17 steps to leave chance
        config = config.replace(train_size=3000, batch_size=64)
    if preset == "keras mnist_cnn":
        config = config.replace(optimizer="adam", learning_rate=1e-3)  # adadelta needs many epochs
    result = train(config)
    assert result.test.accuracy > 0.3  # chance is 0.1; these 17 steps are only a smoke test


def test_probabilities_match_the_model_and_its_traced_graph_dies_with_it(tiny_result):
    model = tiny_result[0].model
    images = load_mnist().x_test[:1500]  # more than one evaluation batch, the last one partial
    expected = np.asarray(model(images.astype(np.float32)[..., None] / 255.0, training=False))
    # bfloat16 keeps 8 bits of mantissa: the kernels oneDNN picks for other batch sizes round
    # differently, a few thousandths apart; float32 agrees to the last digits.
    bfloat16 = tiny_result[0].config.precision == "mixed_bfloat16"
    np.testing.assert_allclose(probabilities(model, images), expected, atol=2e-2 if bfloat16 else 1e-5)
    assert forward(model) is forward(model), "traced once per model"

    other = build_model(tiny_result[0].config)
    probabilities(other, images[:10])
    alive = weakref.ref(other)
    del other
    gc.collect()
    assert alive() is None, "the traced graph must not keep its model alive"


def test_training_more_continues_the_curves_and_the_model(tiny_config, runs_dir):
    from cnn.store import save_run

    first = save_run(train(tiny_config), "first")
    more = train(tiny_config.replace(epochs=2), start_from=first)
    h, old = more.history, first.history
    assert more.config == first.config.replace(epochs=first.config.epochs + 2)
    assert h.step[: len(old.step)] == old.step and h.step[len(old.step)] == old.step[-1] + 1
    assert h.step == list(range(1, len(h.step) + 1)) and more.steps == h.step[-1] == 3 * first.steps
    assert h.time[len(old.step)] >= old.time[-1] and h.epoch_end_steps[-1] == more.steps
    assert h.val_step[-1] == more.steps and len(h.epoch_end_steps) == 3
    assert more.test.accuracy >= first.test_accuracy - 0.02  # a warm restart, not a fresh start
    assert more.train_seconds > first.train_seconds
    with pytest.raises(ConfigError, match="epochs"):
        train(tiny_config.replace(epochs=50), start_from=first)  # 51 epochs in all


def test_typed_digits_and_non_digits_are_swapped_into_batches():
    import tensorflow as tf

    from cnn.augment import NOT_A_DIGIT, to_float

    x = tf.constant(load_mnist().x_train[:512])
    y = tf.constant(load_mnist().y_train[:512].astype("int32"))
    typed = (tf.ones([3, 28, 28, 1]), tf.constant([7, 7, 7]))
    outliers = (tf.zeros([2, 28, 28, 1]), tf.constant([NOT_A_DIGIT] * 2))
    config = TrainConfig(typed=0.2, outliers=0.2)
    _, labels = to_float(x, y, config, typed, outliers)
    share = (labels.numpy() == NOT_A_DIGIT).mean()
    assert 0.1 < share < 0.3
    _, plain = to_float(x, y, TrainConfig(augment=False), typed, outliers)
    assert (plain.numpy() == y.numpy()).all()


def test_mixed_bfloat16_computes_in_bfloat16_with_float32_weights_and_softmax(tiny_config, tmp_path):
    result = train(tiny_config.replace(precision="mixed_bfloat16"))
    model = result.model
    *hidden, softmax = model.layers
    assert {layer.compute_dtype for layer in hidden} == {"bfloat16"} and softmax.compute_dtype == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}  # the optimizer updates float32 weights
    assert result.test.accuracy > 0.6  # chance is 0.10

    image = load_mnist().x_test[:1].astype(np.float32)[..., None] / 255
    saved = load_model(save_run(result, "bf16", tmp_path))  # the policy is saved with the model
    assert [layer.compute_dtype for layer in saved.layers] == [layer.compute_dtype for layer in model.layers]
    p = forward(saved)(image).numpy()
    assert p.dtype == np.float32 and p.sum() == pytest.approx(1.0, abs=1e-5)
    # the pages draw the activations as float32, whatever the model computes in
    assert {a.dtype for _, a in Explainer(saved).activations(image[0, ..., 0])} == {np.dtype(np.float32)}
