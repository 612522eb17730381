import numpy as np
import pytest

from cnn import data
from cnn.data import load_mnist
from cnn.errors import CnnError


def test_bundled_mnist_is_the_real_thing():
    mnist = load_mnist()
    assert mnist.source == str(data.BUNDLED)
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert abs(mnist.x_train.mean() / 255 - 0.1307) < 1e-4
    assert list(np.bincount(mnist.y_train)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert list(mnist.y_test[:5]) == [7, 2, 1, 0, 4]
    assert not mnist.x_train.flags.writeable  # shared between threads: nobody may change it


def test_loading_again_is_cached():
    assert load_mnist() is load_mnist()


def _fresh(monkeypatch):
    monkeypatch.setattr(data, "_cache", {})


def test_explicit_path_that_is_missing_says_where_and_what_to_do(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    with pytest.raises(CnnError, match=r"does not exist.*MNIST_PATH"):
        load_mnist(tmp_path / "nope.npz")


def test_damaged_file_is_caught_by_checksum(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    mnist = load_mnist()
    x = mnist.x_train.copy()
    x[0, 0, 0] ^= 1
    bad = tmp_path / "mnist.npz"
    np.savez(bad, x_train=x, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    with pytest.raises(CnnError, match="x_train is damaged"):
        load_mnist(bad)


def test_truncated_file_is_a_clear_error(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(data.BUNDLED.read_bytes()[:100_000])
    with pytest.raises(CnnError, match="cannot be read"):
        load_mnist(bad)


def test_wrong_shapes_are_refused(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    bad = tmp_path / "mnist.npz"
    np.savez(
        bad,
        x_train=np.zeros((10, 28, 28), np.uint8),
        y_train=np.zeros(10, np.uint8),
        x_test=np.zeros((10, 28, 28), np.uint8),
        y_test=np.zeros(10, np.uint8),
    )
    with pytest.raises(CnnError, match=r"expected uint8\(60000, 28, 28\)"):
        load_mnist(bad)


def test_mnist_path_environment_variable_is_used(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "elsewhere.npz"))
    with pytest.raises(CnnError, match="elsewhere.npz"):
        load_mnist()


def test_without_bundled_file_keras_cache_then_download_are_tried(tmp_path, monkeypatch):
    _fresh(monkeypatch)
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setattr(data, "BUNDLED", tmp_path / "missing.npz")
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "cache" / "mnist.npz")
    import keras.datasets.mnist

    def no_network():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(CnnError) as err:
        load_mnist()
    message = str(err.value)
    assert "missing.npz" in message and "cache" in message and "network unreachable" in message
    # with the cache in place, it is used
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "mnist.npz").symlink_to(data.ROOT / "data" / "mnist.npz")
    assert load_mnist().source == str(tmp_path / "cache" / "mnist.npz")
