import pytest

from cnn.config import PRESETS, ConfigError, TrainConfig, knob_range, preset_of
from cnn.model import describe


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("epochs", 0, "epochs: must be from 1 to 50; got 0"),
        ("epochs", 2.5, "epochs: must be a whole number from 1 to 50"),
        ("filters", 1000, "filters: must be from 4 to 128"),
        ("dropout", 0.95, "dropout: must be from 0.0 to 0.8"),
        ("dropout", float("nan"), "dropout: must be a number"),
        ("dropout", "a lot", "dropout: must be a number"),
        ("kernel_size", 9, "kernel_size: must be from 2 to 7"),
        ("batch_size", 4, "batch_size: must be from 8 to 2048"),
        ("learning_rate", 0.0, "learning_rate: must be from 1e-05 to 2.0"),
        ("optimizer", "adamax", "optimizer: must be one of adam, adamw, sgd, rmsprop, adadelta"),
        ("lr_schedule", "linear", "lr_schedule: must be one of"),
        ("architecture", "resnet", "architecture: must be one of compact, tutorial, mnist_cnn"),
        ("augment", "yes", "augment: must be true or false"),
        ("train_size", 100, "train_size: must be from 200 to 60000"),
        ("validation_split", 0.9, "validation_split: must be from 0.02 to 0.5"),
        ("seed", -1, "seed: must be from 0 to"),
        ("epochs", True, "epochs: must be a whole number"),
    ],
)
def test_out_of_range_values_name_the_field_and_range(field, value, expected):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value})
    assert expected in str(err.value)
    assert field in err.value.problems


def test_too_many_pooling_blocks_for_28x28_is_refused():
    with pytest.raises(ConfigError) as err:
        TrainConfig(conv_blocks=5)
    assert "use at most 4" in err.value.problems["conv_blocks"]


def test_kernel_larger_than_the_last_feature_map_is_refused():
    with pytest.raises(ConfigError) as err:
        TrainConfig(conv_blocks=4, kernel_size=5)
    assert "kernel_size" in err.value.problems


def test_batch_larger_than_the_training_images_is_refused():
    with pytest.raises(ConfigError) as err:
        TrainConfig(train_size=500, batch_size=1024)
    assert "batch_size" in err.value.problems


def test_too_small_validation_share_is_refused():
    with pytest.raises(ConfigError) as err:
        TrainConfig(train_size=1000, validation_split=0.02)
    assert "validation_split" in err.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        TrainConfig(epochs=0, filters=0, dropout=2.0)
    assert set(err.value.problems) == {"epochs", "filters", "dropout"}


def test_unknown_settings_are_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainConfig.from_dict({"epochs": 2, "colour": "red"})


def test_round_trip_through_dict():
    config = TrainConfig(epochs=4, filters=24, dropout=0.1, lr_schedule="cosine")
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_presets_match_the_classic_tutorials():
    tutorial, keras_cnn = PRESETS["seed tutorial"], PRESETS["keras mnist_cnn"]
    assert (tutorial.architecture, tutorial.filters, tutorial.epochs, tutorial.optimizer) == ("tutorial", 64, 3, "adam")
    assert "Conv3x3 64 -> Conv3x3 32 -> Dense 10 softmax" in describe(tutorial)
    assert (keras_cnn.filters, keras_cnn.epochs, keras_cnn.dense_units, keras_cnn.dropout) == (32, 12, 128, 0.25)
    assert "Conv3x3 32 -> Conv3x3 64 -> Pool -> Dropout 0.25 -> Dense 128 -> Dropout 0.5" in describe(keras_cnn)
    assert preset_of(PRESETS["fast default"]) == "fast default"
    assert PRESETS["fast default"] == TrainConfig()
    best = PRESETS["best reader"]
    assert best.filters > TrainConfig().filters and best.epochs > TrainConfig().epochs
    assert preset_of(best) == "best reader"
    record = PRESETS["best accuracy"]
    assert (record.conv_blocks, record.batch_norm, record.outliers) == (3, True, 0.0)
    assert preset_of(record) == "best accuracy"
    assert preset_of(TrainConfig(epochs=7)) is None


def test_knob_range_gives_form_limits():
    assert knob_range("epochs")["low"] == 1 and knob_range("epochs")["high"] == 50
    assert knob_range("optimizer")["choices"][0] == "adam"


@pytest.mark.parametrize("preset", list(PRESETS))
def test_described_parameter_count_matches_keras(preset):
    from cnn.model import build_model

    config = PRESETS[preset]
    model = build_model(config)
    assert f"({model.count_params():,} parameters)" in describe(config)


def test_described_parameter_count_matches_keras_for_other_layouts():
    from cnn.model import build_model

    for config in (
        TrainConfig(batch_norm=False, conv_blocks=3, kernel_size=5, filters=8),
        TrainConfig(conv_blocks=1, dense_units=64, batch_norm=True),
    ):
        assert f"({build_model(config).count_params():,} parameters)" in describe(config)
