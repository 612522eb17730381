import gc
import weakref

import numpy as np
import pytest

from cnn.data import load_mnist
from cnn.explain import explainer_for, first_layer_filters, tile
from cnn.predict import classifier_for
from cnn.store import load_model


@pytest.fixture
def explainer(good_run):
    return explainer_for(classifier_for(good_run).model)


def test_saliency_has_the_input_shape_and_concentrates_on_the_ink(explainer):
    mnist = load_mnist()
    for i in range(10):
        image = mnist.x_test[i].astype(np.float32) / 255
        saliency = explainer.saliency(image, int(mnist.y_test[i]))
        assert saliency.shape == (28, 28) and saliency.dtype == np.float32
        assert saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)
        ink = image > 0.2
        near_ink = np.zeros_like(ink)  # the ink and its one-pixel border: where strokes could be
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                near_ink |= np.roll(np.roll(ink, dy, 0), dx, 1)
        # per pixel, the ink region holds far more saliency than the background
        assert saliency[near_ink].mean() > 2 * saliency[~near_ink].mean()


def test_activations_are_one_map_per_filter_for_every_conv_layer(explainer, good_run):
    image = load_mnist().x_test[0].astype(np.float32) / 255
    maps = explainer.activations(image)
    config = good_run.config
    assert [name for name, _ in maps] == [f"conv{i}" for i in range(1, config.conv_blocks + 1)]
    assert maps[0][1].shape == (28, 28, config.filters) and maps[1][1].shape == (14, 14, 2 * config.filters)
    assert all(a.min() >= 0 for _, a in maps)  # after ReLU
    blank = explainer.activations(np.zeros((28, 28), np.float32))
    assert np.abs(maps[0][1]).sum() > np.abs(blank[0][1]).sum()  # the digit excites the filters


def test_batch_norm_models_show_the_relu_output():
    from cnn.config import TrainConfig
    from cnn.model import build_model

    model = build_model(TrainConfig(batch_norm=True, filters=4))
    names = [name for name, _ in explainer_for(model).activations(np.zeros((28, 28), np.float32))]
    assert names == ["relu1", "relu2"]


def test_first_layer_filters_and_tiles(good_run):
    model = load_model(good_run)
    filters = first_layer_filters(model)
    assert filters.shape == (3, 3, good_run.config.filters)
    grid = tile(filters, columns=8)
    assert grid.shape == (2 * 3 + 1, 8 * 3 + 7)
    assert np.isnan(grid[3]).all()  # the gap between rows
    assert np.nanmin(grid) == 0 and np.nanmax(grid) == 1


def test_a_model_explained_then_dropped_is_freed(good_run):
    # The explainer's graphs refer to the model: a cache keyed by the model kept every model
    # ever explained alive (a leak on a server that reloads replaced model files).
    model = load_model(good_run)
    assert explainer_for(model) is explainer_for(model), "one explainer per model"
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
