"""Read a PyTorch state dict saved in the legacy (pre-zip) format -- without torch.

``torch.save(..., _use_new_zipfile_serialization=False)`` (and every ``torch.save`` before
PyTorch 1.6) writes one stream:

1. a pickle of the magic number ``0x1950a86a20f9469cfc6c``;
2. a pickle of the protocol version, ``1001``;
3. a pickle of the system info: ``{"protocol_version": 1001, "little_endian": True,
   "type_sizes": {...}}``;
4. a pickle of the object itself, in which every tensor is
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and
   every storage a *persistent id* ``("storage", torch.FloatStorage, key, location, numel,
   view_metadata)`` instead of its bytes;
5. a pickle of the list of storage keys;
6. for each key in that order: the storage's element count as a little-endian int64, then its
   elements (raw, little-endian).

:func:`load_state_dict` reads exactly this and nothing else. Unpickling runs code named in the
file, so the unpickler only resolves the few names such a state dict needs
(:data:`ALLOWED_GLOBALS`) and refuses every other one by name; each element the reader cannot
vouch for (a zip-format file, a wrong magic number, a big-endian file, a storage type it does not
know, a view into a storage, a tensor reaching past its storage, a truncated file, trailing
bytes) is an error saying what it found.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

#: ``torch.serialization.MAGIC_NUMBER`` and ``PROTOCOL_VERSION`` of the legacy format.
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

#: Storage classes the reader understands, and their little-endian numpy element types.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}

#: The only globals the pickled object may name: the state dict's type, the tensor rebuild
#: function, and the storage types above.
ALLOWED_GLOBALS = frozenset(
    [("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")]
    + [("torch", name) for name in STORAGE_DTYPES])


class TorchFileError(ValueError):
    """The file is not a legacy PyTorch state dict this reader understands."""


class _StorageType:
    """Stands for ``torch.FloatStorage`` etc. while unpickling (only its name is needed)."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage announced by a persistent id; its bytes come after the pickles."""

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.type, self.numel = key, storage_type, numel
        self.array: np.ndarray | None = None


class _PendingTensor:
    """``_rebuild_tensor_v2``'s arguments, turned into an array once the storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise TorchFileError(f"a tensor refers to {type(storage).__name__}, not to a storage")
    if backward_hooks:
        raise TorchFileError("a tensor has backward hooks; a state dict has none")
    if not (isinstance(storage_offset, int) and all(isinstance(v, int) for v in (*size, *stride))
            and len(size) == len(stride)):
        raise TorchFileError(f"a tensor has a malformed offset/size/stride: "
                             f"{storage_offset!r}, {size!r}, {stride!r}")
    return _PendingTensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED_GLOBALS`; storages come back as :class:`_Storage`."""

    def __init__(self, file, path, storages: dict | None):
        super().__init__(file)
        self._path, self._storages = path, storages

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise TorchFileError(
                f"{self._path}: the pickle names {module}.{name}, which a state dict of tensors "
                f"does not need; refusing to load it (allowed: "
                f"{', '.join(sorted(m + '.' + n for m, n in ALLOWED_GLOBALS))}).")
        if module == "collections":
            return collections.OrderedDict
        if name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        return _StorageType(name)

    def persistent_load(self, pid):
        if self._storages is None:
            raise TorchFileError(f"{self._path}: a persistent id outside the object pickle")
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise TorchFileError(f"{self._path}: unknown persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise TorchFileError(f"{self._path}: storage {key!r} has no known storage type")
        if view_metadata is not None:
            raise TorchFileError(f"{self._path}: storage {key!r} is a view into another storage "
                                 "(view_metadata), which this reader does not support")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise TorchFileError(f"{self._path}: malformed storage id {pid!r:.80}")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type, numel)
        elif storage.type.name != storage_type.name or storage.numel != numel:
            raise TorchFileError(f"{self._path}: storage {key!r} is declared twice, differently")
        return storage


def _load_pickle(handle, path, what, storages=None):
    try:
        return _Unpickler(handle, path, storages).load()
    except TorchFileError:
        raise
    except EOFError:
        raise TorchFileError(f"{path}: the file ends inside the {what} (truncated?)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError) as error:
        raise TorchFileError(f"{path}: cannot read the {what}: {error}") from None


def _materialize(tensor: _PendingTensor, path) -> np.ndarray:
    storage = tensor.storage
    if any(s < 0 for s in tensor.size) or any(s < 0 for s in tensor.stride) or tensor.offset < 0:
        raise TorchFileError(f"{path}: a tensor in storage {storage.key!r} has a negative "
                             "size, stride or offset")
    if 0 in tensor.size:
        return np.zeros(tensor.size, storage.type.dtype.newbyteorder("="))
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride))
    if last >= storage.numel:
        raise TorchFileError(f"{path}: a tensor of shape {tensor.size} (offset {tensor.offset}, "
                             f"strides {tensor.stride}) reaches element {last} of storage "
                             f"{storage.key!r}, which has only {storage.numel}")
    itemsize = storage.type.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage.array[tensor.offset:], shape=tensor.size,
        strides=tuple(s * itemsize for s in tensor.stride), writeable=False)
    # A C-contiguous copy in native byte order: no array shares memory with another.
    # (np.array, not np.ascontiguousarray, which turns a 0-d tensor into shape (1,).)
    return np.array(view, dtype=storage.type.dtype.newbyteorder("="), order="C", copy=True)


def _replace_tensors(obj, path):
    if isinstance(obj, _PendingTensor):
        return _materialize(obj, path)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _replace_tensors(value, path)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace_tensors(v, path) for v in obj)
    return obj


def load_state_dict(path: str | os.PathLike) -> "collections.OrderedDict[str, np.ndarray]":
    """The tensors of a legacy-format ``.pth`` file as numpy arrays, by name, in file order.

    Integer tensors (e.g. BatchNorm's ``num_batches_tracked``) come back as integer arrays.
    Raises :class:`TorchFileError` for anything this reader does not understand (see the module
    docstring), :class:`FileNotFoundError` for a missing file.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        raise TorchFileError(
            f"{path} is in PyTorch's zip format (the default of torch.save since PyTorch 1.6); "
            "this reader understands only the legacy format. Re-save it with "
            "torch.save(state_dict, path, _use_new_zipfile_serialization=False).")
    handle = io.BytesIO(data)
    magic = _load_pickle(handle, path, "magic number")
    if magic != MAGIC_NUMBER:
        raise TorchFileError(f"{path} does not start with the magic number of a legacy PyTorch "
                             f"file (found {magic!r:.40}); it is not a torch.save file.")
    protocol = _load_pickle(handle, path, "protocol version")
    if protocol != PROTOCOL_VERSION:
        raise TorchFileError(f"{path}: protocol version {protocol!r}, expected "
                             f"{PROTOCOL_VERSION}")
    sys_info = _load_pickle(handle, path, "system info")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise TorchFileError(f"{path}: the system info {sys_info!r:.120} does not say "
                             "little-endian; this reader reads little-endian files only")

    storages: dict[str, _Storage] = {}
    result = _load_pickle(handle, path, "object pickle", storages)
    keys = _load_pickle(handle, path, "list of storage keys")
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise TorchFileError(f"{path}: the storage key list is malformed: {keys!r:.80}")
    if sorted(keys) != sorted(storages) or len(keys) != len(set(keys)):
        raise TorchFileError(f"{path}: the storage key list does not match the storages the "
                             f"object uses ({len(keys)} keys, {len(storages)} storages)")
    for key in keys:
        storage = storages[key]
        header = handle.read(8)
        if len(header) < 8:
            raise TorchFileError(f"{path}: the file ends before storage {key!r} (truncated)")
        (count,) = struct.unpack("<q", header)
        if count != storage.numel:
            raise TorchFileError(f"{path}: storage {key!r} has {count} elements in the file but "
                                 f"{storage.numel} in its id")
        nbytes = count * storage.type.dtype.itemsize
        raw = handle.read(nbytes)
        if len(raw) < nbytes:
            raise TorchFileError(f"{path}: the file ends inside storage {key!r} "
                                 f"({len(raw)} of {nbytes} bytes; truncated)")
        storage.array = np.frombuffer(raw, dtype=storage.type.dtype)
    trailing = len(data) - handle.tell()
    if trailing:
        raise TorchFileError(f"{path}: {trailing} bytes follow the last storage; not a file "
                             "this reader understands")
    if not isinstance(result, dict):
        raise TorchFileError(f"{path} holds a {type(result).__name__}, not a state dict")
    state = _replace_tensors(result, path)
    for name, value in state.items():
        if not isinstance(value, np.ndarray):
            raise TorchFileError(f"{path}: entry {name!r} is a {type(value).__name__}, "
                                 "not a tensor")
    return state
