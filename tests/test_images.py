"""Loading photos for VGG16, caffe preprocessing, and the offline ImageNet class index."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lrp_teach import images


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "RGB", "CMYK", "I;16"])
@pytest.mark.parametrize("size", [(50, 30), (300, 451), (224, 224)])
def test_any_mode_and_size_becomes_224_rgb(tmp_path, mode, size):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8))
    path = tmp_path / f"photo.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    rgb.convert(mode).save(path)
    loaded = images.load_image(path)
    assert loaded.shape == (224, 224, 3) and loaded.dtype == np.uint8


def test_transparent_pixels_are_shown_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(path)
    assert (images.load_image(path) == 255).all()


def test_crop_keeps_the_aspect_ratio_and_stretch_does_not(tmp_path):
    # A wide image: left third black, middle white, right third black.
    array = np.zeros((100, 300, 3), np.uint8)
    array[:, 100:200] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(array).save(path)
    cropped = images.load_image(path, resize="crop")
    stretched = images.load_image(path, resize="stretch")
    # Shorter side 100 -> 256 makes it 768 wide; the white band is x = 256..512 and the central
    # 224 pixels (x = 272..496) lie inside it. A stretched image still shows the black thirds.
    assert (cropped > 200).all()
    assert stretched[112, 5].max() < 50 and stretched[112, 112].min() > 200


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(images.ImageError, match=r"not found: .*nope\.png"):
        images.load_image(tmp_path / "nope.png")


def test_non_image_names_the_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture")
    with pytest.raises(images.ImageError, match=r"notes\.jpg is not an image file"):
        images.load_image(path)


def test_truncated_image_names_the_file(tmp_path):
    source = images.photo_path("grace_hopper.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(source[: len(source) // 3])
    with pytest.raises(images.ImageError, match=r"cut\.jpg is damaged or truncated"):
        images.load_image(path)


def test_unknown_course_photo_lists_the_available_ones():
    with pytest.raises(images.ImageError, match="chelsea.png"):
        images.photo_path("dog.png")


def test_preprocess_matches_keras_and_deprocess_inverts_it():
    from lrp_teach._tf import keras

    rgb = images.load_image(images.photo_path("chelsea.png"))
    ours = images.preprocess(rgb)
    theirs = keras.applications.vgg16.preprocess_input(rgb.astype(np.float32).copy())
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    np.testing.assert_array_equal(images.deprocess(ours), rgb)
    # The z^B box: every preprocessed pixel lies in [low, high] per channel.
    assert (ours >= images.VGG16_LOW - 1e-4).all() and (ours <= images.VGG16_HIGH + 1e-4).all()


def test_load_for_vgg16_batches_the_cat_first():
    paths = images.photo_paths()
    assert paths[0].name == "chelsea.png"
    batch = images.load_for_vgg16(paths)
    assert batch.shape == (len(paths), 224, 224, 3) and batch.dtype == np.float32


def test_shipped_class_index_is_the_one_keras_downloads():
    path = images.DATA_DIR / images.CLASS_INDEX_FILE
    assert hashlib.md5(path.read_bytes()).hexdigest() == images.CLASS_INDEX_MD5
    assert images.class_name(281) == "tabby" and images.class_name(285) == "Egyptian_cat"
    with pytest.raises(IndexError, match="0..999"):
        images.class_name(1000)


def test_decode_predictions_equals_keras_given_the_same_file(tmp_path):
    # Put our file where Keras caches it; Keras checks its hash and then uses it without network.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / images.CLASS_INDEX_FILE).write_bytes(
        (images.DATA_DIR / images.CLASS_INDEX_FILE).read_bytes())
    scores = np.random.default_rng(1).normal(size=(3, 1000)).astype(np.float32)
    np.save(tmp_path / "scores.npy", scores)
    code = ("import json, numpy as np, keras; "
            f"s = np.load({str(tmp_path / 'scores.npy')!r}); "
            "print(json.dumps([[list(map(str, t[:2])) for t in row] "
            "for row in keras.applications.imagenet_utils.decode_predictions(s, top=5)]))")
    env = {"KERAS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    keras_names = json.loads(result.stdout.strip().splitlines()[-1])
    ours = [[[wnid, name] for _, wnid, name, _ in row] for row in
            images.decode_predictions(scores, top=5)]
    assert ours == keras_names


def test_decode_predictions_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        images.decode_predictions(np.zeros((2, 10)))


def test_photos_match_the_checksums_in_their_provenance():
    readme = (images.DATA_DIR / "README.md").read_text()
    photos = sorted((images.DATA_DIR / "images").iterdir())
    assert [p.name for p in photos] == ["chelsea.png", "coffee.png", "grace_hopper.jpg",
                                        "rocket.jpg"]
    for photo in photos:
        digest = hashlib.sha256(photo.read_bytes()).hexdigest()
        assert digest in readme, f"{photo.name}: sha256 {digest} is not in data/README.md"
