"""The ImageNet weights of VGG16: found (or downloaded) honestly, checked by md5.

Where the weights come from, in this order (:func:`weight_search_locations`):

1. an explicit path (``resolve_weights(path)``, ``build_vgg16(weights=path)``, CLI ``--weights``);
2. the environment variable ``LRP_TEACH_VGG16_WEIGHTS`` (a path to the ``.h5`` file);
3. the Keras cache, ``$KERAS_HOME/models/vgg16_weights_tf_dim_ordering_tf_kernels.h5``
   (``KERAS_HOME`` defaults to ``~/.keras``) -- where ``keras.applications.VGG16`` keeps it;
4. a download from Keras' server (or ``LRP_TEACH_VGG16_ORIGIN``), into that cache.

Every file is checked against the md5 that Keras publishes for it
(:data:`WEIGHTS_MD5`); the file of your own (say, fine-tuned or test weights) is accepted when you
state its md5 (argument ``md5=`` or ``LRP_TEACH_VGG16_MD5``). Offline, the search fails within
seconds with a message that lists where it looked and how to provide the file; a truncated or
corrupt download never stays in the cache.

The model that loads them is built in :mod:`lrp_teach.vgg16` (which re-exports every name here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

WEIGHTS_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#: The md5 Keras publishes for :data:`WEIGHTS_FILENAME` (keras/src/applications/vgg16.py).
WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"
DEFAULT_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
#: Approximate size of the ImageNet weights file, for messages.
WEIGHTS_SIZE_MB = 528

ENV_WEIGHTS = "LRP_TEACH_VGG16_WEIGHTS"
ENV_ORIGIN = "LRP_TEACH_VGG16_ORIGIN"
ENV_MD5 = "LRP_TEACH_VGG16_MD5"

#: Seconds a network step (name lookup, connect, each read) may take before the download gives up.
DEFAULT_TIMEOUT = 15.0


class WeightsError(RuntimeError):
    """Base class: the VGG16 weights could not be used."""


class WeightsNotFound(WeightsError, FileNotFoundError):
    """No weights file anywhere we looked (and no download possible)."""


class WeightsCorrupt(WeightsError, ValueError):
    """A weights file exists but its md5 is wrong (truncated, damaged, or a different file)."""


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where the weights came from.

    path : the ``.h5`` file that was loaded.
    source : how it was found ("explicit path", "environment variable ...", "Keras cache",
        "downloaded from <url>").
    md5 : the file's md5.
    md5_verified : the md5 was compared with the expected one (and matched).
    """

    path: Path
    source: str
    md5: str
    md5_verified: bool

    @property
    def is_keras_imagenet(self) -> bool:
        """True if this is byte for byte the ImageNet weights file Keras publishes."""
        return self.md5 == WEIGHTS_MD5

    def describe(self) -> str:
        what = ("ImageNet weights (the Keras release, md5 verified)" if self.is_keras_imagenet
                else f"weights from your own file (md5 {self.md5}; NOT the Keras ImageNet release)")
        return f"{what}, {self.source}: {display_path(self.path)}"


# --------------------------------------------------------------------------------------------
# Where to look
# --------------------------------------------------------------------------------------------

def display_path(path: str | os.PathLike) -> str:
    """``path`` as text, with the home directory written ``~`` (``~/.keras/models/...``): what
    messages and notebook outputs show, so that they name no user's or machine's folders."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home.rstrip(os.sep) + os.sep)):
        return "~" + text[len(home.rstrip(os.sep)):]
    return text


def keras_home() -> Path:
    """``$KERAS_HOME`` or ``~/.keras`` (Keras' own rule for its cache)."""
    return Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())


def keras_cache_path() -> Path:
    """Where ``keras.applications.VGG16(weights="imagenet")`` keeps the file."""
    return keras_home() / "models" / WEIGHTS_FILENAME


def weights_url(origin: str | None = None) -> str:
    """The download URL: ``origin`` (a folder URL or a full URL), else ``$LRP_TEACH_VGG16_ORIGIN``,
    else Keras' server."""
    origin = origin or os.environ.get(ENV_ORIGIN) or DEFAULT_ORIGIN
    return origin if origin.endswith(".h5") else origin.rstrip("/") + "/" + WEIGHTS_FILENAME


def weight_search_locations(path: str | os.PathLike | None = None,
                            origin: str | None = None) -> list[tuple[str, Path | None]]:
    """The places :func:`resolve_weights` tries, in order: ``(description, path or None)``.

    A ``None`` path means "not set". The last entry is the download (its path is the cache file
    it would write).
    """
    env_value = os.environ.get(ENV_WEIGHTS)
    return [
        ("explicit path", Path(path).expanduser() if path else None),
        (f"environment variable {ENV_WEIGHTS}", Path(env_value).expanduser() if env_value else None),
        ("Keras cache", keras_cache_path()),
        (f"download from {weights_url(origin)}", keras_cache_path()),
    ]


def how_to_provide(origin: str | None = None, download_failed: bool = False) -> str:
    """The instructions every 'not found' message ends with. After a failed download it does
    not offer the download again (it just failed): it says to retry once online instead."""
    last = ("  - or run the same command again once this machine is online (the download above "
            "failed)." if download_failed else
            "  - or allow the download when you are online: `--download` on the command line\n"
            "    (download=True in Python).")
    return (
        f"To use the ImageNet weights ({WEIGHTS_FILENAME}, about {WEIGHTS_SIZE_MB} MB), either\n"
        f"  - download them on a machine with internet from\n      {weights_url(origin)}\n"
        f"    and put the file at {display_path(keras_cache_path())}\n"
        f"    (the Keras cache; KERAS_HOME changes its folder), or\n"
        f"  - set the environment variable {ENV_WEIGHTS}=/path/to/{WEIGHTS_FILENAME}, or\n"
        f"  - pass the path on the command line:\n"
        f"    `python -m lrp_teach explain PHOTO --weights /path/to/file.h5`\n"
        f"    (in Python: build_vgg16(weights='/path/to/file.h5')),\n" + last
    )


# --------------------------------------------------------------------------------------------
# Hashes and downloads
# --------------------------------------------------------------------------------------------

def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The md5 hex digest of a file, read in chunks (the weights file is 528 MB)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_md5(md5: str | None) -> str:
    return (md5 or os.environ.get(ENV_MD5) or WEIGHTS_MD5).lower()


def _lookup_host(url: str, timeout: float) -> None:
    """Resolve the host name in a thread, so that a hanging DNS cannot hang us.

    ``urlopen(timeout=...)`` bounds connecting and reading, but not the name lookup.
    """
    parsed = urllib.parse.urlparse(url)
    if not parsed.hostname:
        return
    outcome: dict = {}

    def lookup():
        try:
            socket.getaddrinfo(parsed.hostname, parsed.port or 443)
            outcome["ok"] = True
        except OSError as error:
            outcome["error"] = error

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"looking up {parsed.hostname} took more than {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]


def download_weights(url: str, destination: Path, expected_md5: str,
                     timeout: float = DEFAULT_TIMEOUT, progress: bool = True) -> str:
    """Download ``url`` to ``destination``, checking its md5; return the md5.

    The bytes go to a temporary file next to ``destination`` and are moved into place only when
    complete and verified: an interrupted or wrong download never leaves a file at
    ``destination``. Raises ``OSError``/``TimeoutError`` for network problems and
    :class:`WeightsCorrupt` for a hash mismatch.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    digest = hashlib.md5()
    received = 0
    try:
        _lookup_host(url, timeout)
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            next_report = 0.1
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if progress and total and received / total >= next_report:
                    print(f"  downloaded {received / 1e6:.0f} of {total / 1e6:.0f} MB",
                          file=sys.stderr)
                    next_report += 0.1
        if total and received != total:
            raise WeightsCorrupt(f"the download from {url} stopped after {received} of {total} "
                                 "bytes. Try again.")
        actual = digest.hexdigest()
        if actual != expected_md5:
            raise WeightsCorrupt(
                f"the file downloaded from {url} has md5 {actual}, expected {expected_md5}: it is "
                "damaged or not the VGG16 weights file. Nothing was saved; try again, or check "
                f"the URL ({ENV_ORIGIN}).")
        os.replace(partial, destination)
        return actual
    finally:
        if partial.exists():
            partial.unlink()


# --------------------------------------------------------------------------------------------
# Resolving
# --------------------------------------------------------------------------------------------

def resolve_weights(path: str | os.PathLike | None = None, download: bool = True,
                    origin: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                    md5: str | None = None, progress: bool = True) -> WeightsSource:
    """Find the VGG16 weights file, verify its md5 and say where it came from.

    Order: ``path``; ``$LRP_TEACH_VGG16_WEIGHTS``; the Keras cache; a download (if ``download``)
    from ``origin`` / ``$LRP_TEACH_VGG16_ORIGIN`` / Keras' server into the Keras cache.

    md5 : the expected hash (default ``$LRP_TEACH_VGG16_MD5``, else :data:`WEIGHTS_MD5`). State it
        to use a weights file of your own.
    timeout : seconds each network step may take (offline fails in about this time at most).

    Raises :class:`WeightsNotFound` (nothing found, or download impossible) or
    :class:`WeightsCorrupt` (a file you pointed to has the wrong md5). A corrupt file in the
    Keras cache is deleted (it would otherwise be found again) and the search goes on.
    """
    expected = _expected_md5(md5)
    locations = weight_search_locations(path, origin)
    looked: list[str] = []
    notes: list[str] = []

    # 1 and 2: files the user pointed to. If set, they must exist and be right: silently falling
    # back to something else would hide a typo.
    for description, candidate in locations[:2]:
        if candidate is None:
            looked.append(f"{description}: not set")
            continue
        if not candidate.is_file():
            raise WeightsNotFound(
                f"VGG16 weights: the {description} points to {candidate}, which is not a file.\n"
                f"Fix the path, or unset it to use the Keras cache "
                f"({display_path(keras_cache_path())}).")
        actual = file_md5(candidate)
        if actual != expected:
            raise WeightsCorrupt(
                f"VGG16 weights: {candidate} (from the {description}) has md5 {actual}, expected "
                f"{expected}.\nIf it is the ImageNet file, it is truncated or damaged: download it "
                f"again from {weights_url(origin)}.\nIf it is a weights file of your own, state its "
                f"md5: resolve_weights(..., md5='{actual}') or {ENV_MD5}={actual}.")
        return WeightsSource(candidate, description, actual, md5_verified=True)

    # 3: the Keras cache.
    description, cached = locations[2]
    if cached.is_file():
        actual = file_md5(cached)
        if actual == expected:
            return WeightsSource(cached, description, actual, md5_verified=True)
        cached.unlink()
        notes.append(f"removed a damaged file from the Keras cache ({display_path(cached)}: md5 {actual}, "
                     f"expected {expected})")
        looked.append(f"{description}: {display_path(cached)} (damaged, removed)")
    else:
        looked.append(f"{description}: {display_path(cached)} (no such file)")

    # 4: download.
    description, target = locations[3]
    url = weights_url(origin)
    if not download:
        looked.append(f"download: not asked for (add --download on the command line, "
                      f"download=True in Python); it would fetch {url}")
    else:
        if progress:
            print(f"Downloading the VGG16 ImageNet weights ({WEIGHTS_SIZE_MB} MB) from {url}",
                  file=sys.stderr)
        try:
            actual = download_weights(url, target, expected, timeout=timeout, progress=progress)
        except WeightsCorrupt:
            raise
        except (OSError, urllib.error.URLError, TimeoutError, ValueError) as error:
            reason = getattr(error, "reason", error)
            looked.append(f"download from {url}: failed ({type(reason).__name__}: {reason})")
        else:
            return WeightsSource(target, f"downloaded from {url}", actual, md5_verified=True)

    message = "VGG16 weights not found. Looked at:\n" + "\n".join(f"  - {item}" for item in looked)
    if notes:
        message += "\nNote: " + "; ".join(notes) + "."
    download_failed = any(item.startswith("download from") for item in looked)
    raise WeightsNotFound(message + "\n" + how_to_provide(origin, download_failed))


# --------------------------------------------------------------------------------------------
# Weights files
# --------------------------------------------------------------------------------------------

def load_weights_file(model, path: str | os.PathLike) -> None:
    """Load a Keras-applications style (legacy, layer-ordered) ``.h5`` or a ``.weights.h5`` file."""
    try:
        model.load_weights(str(path))
    except ValueError as error:
        raise WeightsCorrupt(f"{path} has the right md5 but does not fit this model: {error}. "
                             "Is it the VGG16 file with the top (fc1, fc2, predictions)?") from error


def save_weights_h5(model, path: str | os.PathLike) -> Path:
    """Write ``model``'s weights in the layout of Keras' published VGG16 file.

    (``model.save_weights`` in Keras 3 only writes the newer ``.weights.h5`` layout; this writes
    the legacy one that ``keras.applications`` downloads: one group per layer, listed in the
    ``layer_names`` attribute, loaded by layer order.) Used by the tests and to make a weights file
    to try the loading path without the real one.
    """
    import h5py

    path = Path(path)
    layers = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode("utf8") for layer in layers]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"3"
        for layer in layers:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}_{variable.name}_{index}".encode("utf8")
                     for index, variable in enumerate(layer.weights)]
            group.attrs["weight_names"] = names
            for name, variable in zip(names, layer.weights):
                group.create_dataset(name.decode("utf8"), data=np.asarray(variable.numpy()))
    return path
