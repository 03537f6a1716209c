"""The VGG16 weights are found, verified and downloaded as the issue asks -- with weights the tests
build themselves, a download server on 127.0.0.1, and never the internet.

Most tests use a tiny stand-in architecture (``build_vgg16(architecture=...)``) so that the files
are kilobytes; ``test_full_vgg16_weights_through_download_and_cache`` runs the real 528 MB VGG16
file through the whole path once.
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lrp_teach import images, vgg16, weights
from lrp_teach._tf import keras

FILENAME = vgg16.WEIGHTS_FILENAME


# ---------------------------------------------------------------------------------------------
# Fixtures: a clean environment, a small model and its weights file, local servers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No user settings leak in; the Keras cache is a temporary folder; the default origin is a
    local port that refuses connections (so no test can reach the internet by accident)."""
    for name in (vgg16.ENV_WEIGHTS, vgg16.ENV_ORIGIN, vgg16.ENV_MD5):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    # weights_url reads DEFAULT_ORIGIN where it is defined (lrp_teach.weights; vgg16 re-exports it)
    monkeypatch.setattr(weights, "DEFAULT_ORIGIN", "http://127.0.0.1:9/")
    return tmp_path


def small_architecture():
    """A VGG-like miniature: two weight layers, same loading code, tiny file."""
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1"),
        keras.layers.MaxPooling2D(2, name="block1_pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(5, name="predictions"),
    ])


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    """(folder, path, md5, weights) of a seeded small model saved like the Keras VGG16 file."""
    folder = tmp_path_factory.mktemp("weights")
    model = small_architecture()
    vgg16.randomize_weights(model, seed=3)
    for layer in model.layers:  # non-zero biases, to see that they load too
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.linspace(-1, 1, bias.size, dtype=np.float32)])
    path = vgg16.save_weights_h5(model, folder / FILENAME)
    return folder, path, vgg16.file_md5(path), model.get_weights()


def assert_loaded(model, expected_weights):
    loaded = model.get_weights()
    assert len(loaded) == len(expected_weights)
    for got, want in zip(loaded, expected_weights):
        np.testing.assert_array_equal(got, want)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve_folder():
    """Start an HTTP server for a folder on 127.0.0.1; returns its URL. Threaded, and bounded: it
    shuts itself down after 120 s even if a test hangs, and at the end of the test."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        watchdog = threading.Timer(120, server.shutdown)
        watchdog.daemon = True
        watchdog.start()
        servers.append((server, watchdog))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, watchdog in servers:
        watchdog.cancel()
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server():
    """A socket that accepts connections and never answers (a dead server)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


def cache_folder() -> Path:
    return Path(os.environ["KERAS_HOME"]) / "models"


def cache_leftovers() -> list[str]:
    folder = cache_folder()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------
# Each place the weights can come from
# ---------------------------------------------------------------------------------------------

def test_search_order_is_path_env_cache_download(small_weights, monkeypatch):
    _, path, _, _ = small_weights
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(path))
    descriptions = [d for d, _ in vgg16.weight_search_locations("/some/file.h5")]
    assert descriptions[0] == "explicit path"
    assert vgg16.ENV_WEIGHTS in descriptions[1]
    assert descriptions[2] == "Keras cache"
    assert descriptions[3].startswith("download from ")
    locations = dict(vgg16.weight_search_locations())
    assert locations["explicit path"] is None
    assert locations["Keras cache"] == cache_folder() / FILENAME


def test_loads_from_explicit_path(small_weights):
    _, path, md5, weights = small_weights
    model, source = vgg16.build_vgg16(path, md5=md5, architecture=small_architecture)
    assert_loaded(model, weights)
    assert source.source == "explicit path" and source.path == path
    assert source.md5_verified and not source.is_keras_imagenet
    assert "NOT the Keras ImageNet release" in source.describe()


def test_loads_from_environment_variable(small_weights, monkeypatch):
    _, path, md5, weights = small_weights
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(path))
    monkeypatch.setenv(vgg16.ENV_MD5, md5)  # the expected hash can come from the environment too
    model, source = vgg16.build_vgg16("imagenet", download=False, architecture=small_architecture)
    assert_loaded(model, weights)
    assert vgg16.ENV_WEIGHTS in source.source


def test_explicit_path_wins_over_environment(small_weights, tmp_path, monkeypatch):
    _, path, md5, _ = small_weights
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(tmp_path / "elsewhere.h5"))  # does not exist
    source = vgg16.resolve_weights(path, md5=md5, download=False)
    assert source.source == "explicit path"


def test_loads_from_keras_cache(small_weights):
    _, path, md5, weights = small_weights
    cache_folder().mkdir(parents=True)
    (cache_folder() / FILENAME).write_bytes(path.read_bytes())
    model, source = vgg16.build_vgg16(download=False, md5=md5, architecture=small_architecture)
    assert_loaded(model, weights)
    assert source.source == "Keras cache" and source.path == cache_folder() / FILENAME


def test_downloads_into_cache_then_uses_cache(small_weights, serve_folder):
    folder, _, md5, weights = small_weights
    url = serve_folder(folder)
    model, source = vgg16.build_vgg16(origin=url, md5=md5, timeout=5, progress=False,
                                      architecture=small_architecture)
    assert_loaded(model, weights)
    assert source.source == f"downloaded from {url}{FILENAME}"
    assert cache_leftovers() == [FILENAME]  # the file, no partial download next to it
    again = vgg16.resolve_weights(md5=md5, download=False)
    assert again.source == "Keras cache"


def test_origin_from_environment_variable(small_weights, serve_folder, monkeypatch):
    folder, _, md5, _ = small_weights
    monkeypatch.setenv(vgg16.ENV_ORIGIN, serve_folder(folder))
    source = vgg16.resolve_weights(md5=md5, timeout=5, progress=False)
    assert source.source.startswith("downloaded from http://127.0.0.1:")


# ---------------------------------------------------------------------------------------------
# What goes wrong, and how it is reported
# ---------------------------------------------------------------------------------------------

def test_download_with_wrong_hash_fails_and_leaves_cache_clean(small_weights, serve_folder):
    folder, _, _, _ = small_weights
    url = serve_folder(folder)
    with pytest.raises(vgg16.WeightsCorrupt, match="md5"):
        vgg16.resolve_weights(origin=url, timeout=5, progress=False)  # expects the Keras md5
    assert cache_leftovers() == []


def test_truncated_download_fails_and_leaves_cache_clean(small_weights, tmp_path, serve_folder):
    _, path, md5, _ = small_weights
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / FILENAME).write_bytes(path.read_bytes()[:-100])
    url = serve_folder(tmp_path / "served")
    with pytest.raises(vgg16.WeightsCorrupt):
        vgg16.resolve_weights(origin=url, md5=md5, timeout=5, progress=False)
    assert cache_leftovers() == []


def test_server_that_does_not_answer_times_out_within_seconds(silent_server):
    start = time.monotonic()
    with pytest.raises(vgg16.WeightsNotFound) as error:
        vgg16.resolve_weights(origin=silent_server, timeout=1, progress=False)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert "timed out" in message.lower() or "timeout" in message.lower()
    assert cache_leftovers() == []


def test_offline_fails_fast_and_says_how_to_provide_the_file():
    start = time.monotonic()
    with pytest.raises(vgg16.WeightsNotFound) as error:
        vgg16.resolve_weights(timeout=2, progress=False)  # origin: a refused local port
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert str(cache_folder() / FILENAME) in message  # where it looked
    assert vgg16.ENV_WEIGHTS in message  # how to provide it
    assert "--weights" in message and "download" in message.lower()
    assert "http://127.0.0.1:9/" + FILENAME in message
    # the download was tried and failed: it is not offered again, retrying online is
    assert "--download" not in message and "allow the download" not in message
    assert "once this machine is online" in message


def test_no_download_allowed_names_the_url_and_the_option_in_command_line_words():
    with pytest.raises(vgg16.WeightsNotFound) as error:
        vgg16.resolve_weights(download=False)
    message = str(error.value)
    assert "download=False" not in message
    assert "add --download on the command line" in message
    assert "allow the download when you are online: `--download`" in message


def test_display_path_shows_the_home_folder_as_a_tilde(monkeypatch, tmp_path):
    from lrp_teach.weights import display_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_path(tmp_path / ".keras" / "models" / "x.h5") == \
        str(Path("~") / ".keras" / "models" / "x.h5")
    assert display_path("/somewhere/else/x.h5") == str(Path("/somewhere/else/x.h5"))


def test_default_origin_is_keras_server(monkeypatch):
    monkeypatch.undo()  # the real DEFAULT_ORIGIN
    monkeypatch.delenv(vgg16.ENV_ORIGIN, raising=False)
    assert vgg16.weights_url() == (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + FILENAME)
    assert vgg16.WEIGHTS_MD5 == "64373286793e3c8b2b4e3219cbf3544b"


def test_corrupt_cache_file_is_removed(small_weights):
    _, path, md5, _ = small_weights
    cache_folder().mkdir(parents=True)
    (cache_folder() / FILENAME).write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(vgg16.WeightsNotFound, match="damaged"):
        vgg16.resolve_weights(md5=md5, download=False)
    assert cache_leftovers() == []


def test_corrupt_cache_file_is_replaced_by_download(small_weights, serve_folder):
    folder, path, md5, _ = small_weights
    cache_folder().mkdir(parents=True)
    (cache_folder() / FILENAME).write_bytes(b"not an h5 file")
    source = vgg16.resolve_weights(origin=serve_folder(folder), md5=md5, timeout=5,
                                   progress=False)
    assert source.source.startswith("downloaded")
    assert vgg16.file_md5(cache_folder() / FILENAME) == md5


def test_wrong_md5_of_your_own_file_is_an_error_that_keeps_the_file(small_weights):
    _, path, md5, _ = small_weights
    with pytest.raises(vgg16.WeightsCorrupt) as error:
        vgg16.resolve_weights(path)  # expects the Keras md5
    message = str(error.value)
    assert md5 in message and vgg16.ENV_MD5 in message
    assert path.exists()


def test_missing_file_from_environment_is_an_error_not_a_silent_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(tmp_path / "typo.h5"))
    with pytest.raises(vgg16.WeightsNotFound, match=vgg16.ENV_WEIGHTS):
        vgg16.resolve_weights(download=False)


def test_course_model_falls_back_to_labelled_random_weights():
    course = vgg16.course_vgg16(architecture=small_architecture)
    assert course.kind == "random" and not course.trained and course.source is None
    assert "NOT trained" in course.label and "seed 0" in course.label
    assert "Looked at" in course.reason
    again = vgg16.course_vgg16(architecture=small_architecture)
    assert_loaded(again.model, course.model.get_weights())  # seeded: identical


def test_course_model_uses_your_file(small_weights, monkeypatch):
    _, path, md5, weights = small_weights
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(path))
    monkeypatch.setenv(vgg16.ENV_MD5, md5)
    course = vgg16.course_vgg16(architecture=small_architecture)
    assert course.kind == "file" and not course.trained
    assert_loaded(course.model, weights)


def test_wrong_layout_is_reported(small_weights):
    _, path, md5, _ = small_weights

    def other_architecture():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="predictions")])

    with pytest.raises(vgg16.WeightsCorrupt, match="does not fit"):
        vgg16.build_vgg16(path, md5=md5, architecture=other_architecture)


# ---------------------------------------------------------------------------------------------
# The real thing: a VGG16-shaped 528 MB file through download, cache and loading
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_vgg16_weights(tmp_path_factory):
    """A real VGG16-shaped weights file (seeded random, 528 MB), built once for this module."""
    folder = tmp_path_factory.mktemp("full_vgg16")
    reference = vgg16.seeded_random_vgg16(seed=1)
    path = vgg16.save_weights_h5(reference, folder / FILENAME)
    cat = images.load_for_vgg16([images.photo_path("chelsea.png")])
    cat_top1 = int(np.argmax(np.asarray(reference(cat))[0]))
    yield folder, path, vgg16.file_md5(path), reference.get_weights(), cat_top1
    path.unlink()


@pytest.mark.slow
def test_full_vgg16_weights_through_download_and_cache(full_vgg16_weights, serve_folder):
    served, _, md5, weights, _ = full_vgg16_weights
    model, source = vgg16.build_vgg16(origin=serve_folder(served), md5=md5, timeout=10,
                                      progress=False)
    assert source.source.startswith("downloaded from http://127.0.0.1:")
    assert [layer.name for layer in model.layers if layer.weights] == list(vgg16.WEIGHT_LAYERS)
    assert model.layers[-1].activation.__name__ == "linear"  # logits, not softmax
    assert_loaded(model, weights)
    assert vgg16.resolve_weights(md5=md5, download=False).source == "Keras cache"


NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_vgg16_lrp.ipynb"


@pytest.mark.slow
def test_notebook_05_uses_a_weights_file_given_by_environment(full_vgg16_weights, monkeypatch):
    """Notebook 05 with ``LRP_TEACH_VGG16_WEIGHTS`` set: its loading cells take the file, label it
    honestly and predict with it. By default the cells up to the top-5 predictions run (the same
    code path as the whole notebook, whose later cells use only ``model``); set
    ``LRP_TEACH_TEST_FULL_NOTEBOOK=1`` to run the whole notebook (about 3 minutes more)."""
    import nbformat
    from nbclient import NotebookClient

    _, path, md5, _, cat_top1 = full_vgg16_weights
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    if not os.environ.get("LRP_TEACH_TEST_FULL_NOTEBOOK"):
        last = next(i for i, cell in enumerate(notebook.cells)
                    if "images.decode_predictions" in cell.source)
        notebook.cells = notebook.cells[:last + 1]
    notebook.cells.append(nbformat.v4.new_code_cell(
        "print('KIND', course.kind, course.source.source, TRAINED)\n"
        "print('TOP1', int(np.argmax(logits[0])))"))
    monkeypatch.setenv(vgg16.ENV_WEIGHTS, str(path))  # the kernel inherits the environment
    monkeypatch.setenv(vgg16.ENV_MD5, md5)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)
    assert "weights from your own file" in text and "NOT trained" not in text
    assert f"KIND file environment variable {vgg16.ENV_WEIGHTS} False" in text
    assert f"TOP1 {cat_top1}" in text


def test_display_path_writes_the_home_directory_as_tilde(monkeypatch, tmp_path):
    from lrp_teach.weights import display_path
    monkeypatch.setenv("HOME", str(tmp_path / "student"))
    home = tmp_path / "student"
    assert display_path(home / ".keras" / "models" / "w.h5") == "~/.keras/models/w.h5"
    assert display_path(home) == "~"
    # a sibling folder whose name merely starts like the home folder is not inside it
    assert display_path(tmp_path / "student2" / "w.h5") == str(tmp_path / "student2" / "w.h5")
    assert display_path("/opt/weights.h5") == "/opt/weights.h5"
