"""The torch-free reader of legacy PyTorch files, on files this test writes itself.

The writer below produces the stream ``torch.save(..., _use_new_zipfile_serialization=False)``
writes (torch/serialization.py, ``_legacy_save``): pickles of the magic number, the protocol
version and the system info, the object pickle with storages as persistent ids, the sorted list
of storage keys, then each storage as an int64 element count and its raw little-endian bytes.
The names ``torch.FloatStorage`` and ``torch._utils._rebuild_tensor_v2`` are pickled as globals
from a stand-in ``torch`` module (torch itself is not a course dependency).
"""

import collections
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from lrp_teach.torch_legacy import TorchFileError, load_state_dict

STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                 np.dtype("int64"): "LongStorage", np.dtype("uint8"): "ByteStorage"}


@pytest.fixture
def fake_torch(monkeypatch):
    """Modules ``torch`` and ``torch._utils`` with the names the pickles refer to."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in STORAGE_NAMES.values():
        cls = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, cls)

    def _rebuild_tensor_v2(*args):  # never called: the reader has its own
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class Storage:
    def __init__(self, key, flat):
        self.key, self.flat = key, np.asarray(flat)


class Tensor:
    """A view into a storage, pickled the way torch pickles a tensor."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                         collections.OrderedDict())


def write_legacy(obj, storages, *, magic=0x1950A86A20F9469CFC6C, little_endian=True,
                 counts=None, numels=None, view_metadata=None):
    """The bytes of a legacy torch file holding ``obj``; ``counts``/``numels`` override the
    element count in the file / in the persistent id of a storage key (to write broken files)."""
    torch = sys.modules["torch"]
    out = io.BytesIO()
    for header in (magic, 1001, {"protocol_version": 1001, "little_endian": little_endian,
                                 "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, Storage):
                numel = (numels or {}).get(value.key, value.flat.size)
                return ("storage", getattr(torch, STORAGE_NAMES[value.flat.dtype]), value.key,
                        "cpu", numel, view_metadata)
            return None

    Pickler(out, protocol=2).dump(obj)
    keys = sorted(s.key for s in storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        storage = next(s for s in storages if s.key == key)
        out.write(struct.pack("<q", (counts or {}).get(key, storage.flat.size)))
        out.write(storage.flat.astype(storage.flat.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


def example(rng):
    """A state dict with a contiguous tensor, a transposed (non-contiguous) one, two views at
    different offsets into one storage, a float64 tensor and a 0-d int64 tensor; and the arrays
    each must come back as, computed here from the storages by index arithmetic."""
    conv = Storage("100", rng.standard_normal(2 * 3 * 2 * 2).astype(np.float32))
    shared = Storage("7", rng.standard_normal(20).astype(np.float32))
    doubles = Storage("55", rng.standard_normal(6))
    count = Storage("9", np.array([42], np.int64))
    state = collections.OrderedDict([
        ("conv.weight", Tensor(conv, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
        ("conv.weight_t", Tensor(conv, 0, (2, 2, 3, 2), (1, 2, 4, 12))),   # channels-last view
        ("a.bias", Tensor(shared, 3, (4,), (1,))),
        ("b.weight", Tensor(shared, 8, (3, 2), (1, 5))),                   # offset, strided
        ("fc.weight", Tensor(doubles, 0, (2, 3), (3, 1))),
        ("bn.num_batches_tracked", Tensor(count, 0, (), ())),
    ])

    def gather(storage, offset, size, stride):
        result = np.empty(size, storage.flat.dtype)
        for index in np.ndindex(*size):
            result[index] = storage.flat[offset + sum(i * s for i, s in zip(index, stride))]
        return result

    expected = {name: gather(t.storage, t.offset, t.size, t.stride) for name, t in state.items()}
    return state, [conv, shared, doubles, count], expected


def test_round_trip_of_contiguous_strided_offset_and_0d_tensors(fake_torch, tmp_path):
    state, storages, expected = example(np.random.default_rng(0))
    path = tmp_path / "state.pth"
    path.write_bytes(write_legacy(state, storages))
    loaded = load_state_dict(path)
    assert list(loaded) == list(state)  # file order kept
    for name, want in expected.items():
        assert loaded[name].shape == want.shape, name
        assert loaded[name].dtype == want.dtype, name
        np.testing.assert_array_equal(loaded[name], want, err_msg=name)
    # The transposed view is the contiguous tensor with its axes permuted.
    np.testing.assert_array_equal(loaded["conv.weight_t"],
                                  loaded["conv.weight"].transpose(3, 2, 1, 0))
    assert loaded["bn.num_batches_tracked"].shape == () and loaded["bn.num_batches_tracked"] == 42
    # Copies: no two arrays share memory, and writing to one leaves the others unchanged.
    assert not np.shares_memory(loaded["conv.weight"], loaded["conv.weight_t"])
    loaded["a.bias"][:] = 0
    np.testing.assert_array_equal(loaded["b.weight"], expected["b.weight"])


def _broken(tmp_path, data):
    path = tmp_path / "broken.pth"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case, message", [
    ("zip", "zip format"),
    ("magic", "magic number"),
    ("big_endian", "little-endian"),
    ("truncated_storage", "ends inside storage"),
    ("truncated_pickle", "truncated"),
    ("trailing", "bytes follow the last storage"),
    ("count", "elements in the file"),
    ("out_of_bounds", "reaches element"),
    ("view", "view into another storage"),
    ("byte_storage", "torch.ByteStorage"),
    ("other_class", "collections.Counter"),
    ("not_a_dict", "not a state dict"),
])
def test_files_it_does_not_understand_are_refused_by_name(fake_torch, tmp_path, case, message):
    state, storages, _ = example(np.random.default_rng(1))
    good = write_legacy(state, storages)
    if case == "zip":
        data = b"PK\x03\x04" + good
    elif case == "magic":
        data = write_legacy(state, storages, magic=12345)
    elif case == "big_endian":
        data = write_legacy(state, storages, little_endian=False)
    elif case == "truncated_storage":
        data = good[:-3]
    elif case == "truncated_pickle":
        data = good[:60]
    elif case == "trailing":
        data = good + b"\0" * 8
    elif case == "count":
        data = write_legacy(state, storages, counts={"7": 19})
    elif case == "out_of_bounds":
        # b.weight from offset 15 reaches element 15 + 2*1 + 1*5 = 22 of a 20-element storage
        state["b.weight"] = Tensor(storages[1], 15, (3, 2), (1, 5))
        data = write_legacy(state, storages)
    elif case == "view":
        data = write_legacy(state, storages, view_metadata=("100", 0, 24))
    elif case == "byte_storage":
        storages[0].flat = storages[0].flat.view(np.uint8)[:24]
        data = write_legacy(state, storages)
    elif case == "other_class":
        data = write_legacy(collections.OrderedDict(extra=collections.Counter("ab")), [])
    elif case == "not_a_dict":
        data = write_legacy([1, 2], [])
    with pytest.raises(TorchFileError, match=message):
        load_state_dict(_broken(tmp_path, data))


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    pickle.dump({"x": Evil()}, out, protocol=2)
    with pytest.raises(TorchFileError, match=r"builtin\w*\.print"):
        load_state_dict(_broken(tmp_path, out.getvalue()))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "nothing.pth")
