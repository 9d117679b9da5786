"""State snapshots: a `ClearingState` as bytes and back, for time travel without re-folding the whole log.

A snapshot is taken by the live run at a checkpoint, of the state the checkpoint's digest
was computed on (just before the checkpoint event itself is applied). It is a cache, not
a record: it sits outside the hash chain, and whoever loads one checks it by recomputing
the state digest and comparing it with the digest the chained checkpoint holds
(`clearing.apps.fold`, `clearing.log.verify`, decision 0030).

The encoding is our own small tagged tree in msgpack (msgspec), compressed with zlib, and
not pickle: a log is a file users exchange, and loading one must never run code it names.
A node is a scalar (int, str, bytes, float, bool, None) or a list whose first item is a
tag: a list, tuple, dict (its items as pairs, any keys), deque, numpy array (dtype, shape,
bytes), an instance of one of the state's own classes (`_CLASSES`, by name: a msgspec
struct or named tuple built from its fields, any other class given its attributes without
calling its constructor), or a reference to an object already written. References keep
what the state shares (a book's single orders are in its price levels and in its index by
id), so the loaded state has the same shape as the saved one. The same run writes the same
bytes: the state holds no sets, its dicts are in insertion order, and references follow
the order objects are met in.

A run writes its snapshots with an `Encoder`: every `KEYFRAME_EVERY`-th whole, each other one
a delta of the one before it, whose per-account arrays (cash, positions, entry costs: nearly
all of a snapshot's bytes, of which a few percent change between two snapshots) are stored as
their XOR with that snapshot's, which zlib packs to almost nothing where nothing changed
(decision 0032). Loading a delta reads the arrays of the snapshots it rests on (`Bases`), back
to the last whole one, each named by seq and each before the one resting on it.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from clearing import events as ev
from clearing.core.book import Book, Ladder, RestingOrder
from clearing.core.margin import Brackets, PortfolioParams, SpanScenarios
from clearing.core.options.surface import VolSurface
from clearing.core.portfolio.grid import GridParams
from clearing.core.portfolio.revaluation import Scenarios, ScenarioTable
from clearing.core.state.schema import DIGEST_VERSION, IncomingOrder, InverseTerms, Observation
from clearing.core.state.state import ClearingState

_TRANSIENT = {"touched": None}  # a margin monitor's bookkeeping: not state, and reset on load
_LEVEL = 6
KEYFRAME_EVERY = 8  # a run's snapshots: one whole, then seven deltas, each of the one before

# The classes a state holds, by name: nothing else can be named in a snapshot.
_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        *ev.KIND_OF, Book, RestingOrder, Ladder, Brackets, PortfolioParams, SpanScenarios, VolSurface, GridParams,
        ScenarioTable, Scenarios, IncomingOrder, InverseTerms, Observation,
    )
}  # fmt: skip


def _attributes(value: Any) -> list[str]:
    # An instance's attributes by name, sorted: those of a class compiled by mypyc (the fast build, whose instances have
    # no __dict__) as it lists them, else its slots and its __dict__'s; the same names either way.
    cls = type(value)
    compiled = getattr(cls, "__mypyc_attrs__", None)
    if compiled is not None:
        names = {name for name in compiled if name != "__dict__"}
    else:
        names = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())} | set(getattr(value, "__dict__", {}))
    return sorted(name for name in names if hasattr(value, name))


def _format(encoding: int) -> int:
    # The encoding's version and the shape of what it encodes (the state's fields, the classes by name with their
    # declared fields, the digest version), as a number: a snapshot written by code that differs in any of them is of
    # another format, passed over rather than misread.
    def declared(cls: type) -> tuple[str, ...]:
        # A struct's or named tuple's fields. Another class's attributes are not listed: the pure and fast builds
        # declare them differently (slots, __dict__, a compiled class's own), and a snapshot names each one it holds.
        names: tuple[str, ...] = getattr(cls, "__struct_fields__", None) or getattr(cls, "_fields", None) or ()
        return names

    classes = sorted((name, declared(cls)) for name, cls in _CLASSES.items())
    shape = [encoding, DIGEST_VERSION, _attributes(ClearingState()), classes]
    return zlib.crc32(msgspec.json.encode(shape))


FORMAT = _format(3)  # stored with each delta (`_DELTA`, `_XOR`)
WHOLE_FORMAT = _format(2)  # stored with each whole snapshot: the bytes of the format before deltas, which it can read
READS = frozenset((FORMAT, WHOLE_FORMAT))
_LIST, _TUPLE, _DICT, _DEQUE, _ARRAY, _OBJECT, _REF, _INT, _DELTA, _XOR = range(10)
_SCALARS = (str, bytes, float, bool, type(None))
_INT64 = (-(2**63), 2**63)


class SnapshotError(ValueError):
    """A snapshot's bytes do not load as a state (corrupt, or naming something that is not state)."""


class _Writer:
    def __init__(self, base: dict[str, np.ndarray] | None = None) -> None:
        self.refs: dict[int, int] = {}  # id of an object written -> its reference number
        self.keep: list[Any] = []  # the objects referenced, alive while writing (ids stay theirs)
        self.base = base or {}  # a delta's: the arrays of the snapshot before it, by field
        self.arrays: dict[str, np.ndarray] = {}  # the state's arrays written whole or as a delta, by field

    def root(self, fields: dict[str, Any]) -> Any:
        # The state's fields, as `node` writes a dict, but an array written as its XOR with the base's array of the
        # same field when that has its dtype and shape.
        self.refs[id(fields)] = 0
        self.keep.append(fields)
        out: list[Any] = [_DICT]
        for name, value in fields.items():
            out.append(name)
            if type(value) is not np.ndarray or id(value) in self.refs or value.dtype.hasobject:
                out.append(self.node(value))
                continue
            old = self.base.get(name)
            if old is None or old.dtype != value.dtype or old.shape != value.shape:
                out.append(self.node(value))
            else:
                self.refs[id(value)] = len(self.refs)
                self.keep.append(value)
                out.append([_XOR, name, (_bytes(value) ^ _bytes(old)).tobytes()])
            self.arrays[name] = value.copy()
        return out

    def node(self, value: Any) -> Any:
        if type(value) is int:
            return value if _INT64[0] <= value < _INT64[1] else [_INT, str(value)]
        if isinstance(value, _SCALARS):
            return value
        ref = self.refs.get(id(value))
        if ref is not None:
            return [_REF, ref]
        self.refs[id(value)] = len(self.refs)
        self.keep.append(value)
        cls = type(value)
        if cls is list:
            return [_LIST, *map(self.node, value)]
        if cls is tuple:
            return [_TUPLE, *map(self.node, value)]
        if cls is dict:
            return [_DICT, *(self.node(x) for item in value.items() for x in item)]
        if cls is deque:
            return [_DEQUE, value.maxlen, *map(self.node, value)]
        if cls is np.ndarray:
            if value.dtype.hasobject:
                raise TypeError("a state array of Python objects cannot be snapshot")
            return [_ARRAY, value.dtype.str, list(value.shape), np.ascontiguousarray(value).tobytes()]
        name = cls.__name__
        if _CLASSES.get(name) is not cls:
            raise TypeError(f"a {cls.__module__}.{cls.__qualname__} in the state is not a class snapshots know (_CLASSES)")
        return [_OBJECT, name, *(x for field in _fields(value) for x in (field[0], self.node(field[1])))]


def _bytes(array: np.ndarray) -> np.ndarray:
    # An array's bytes, in C order, as a flat array of uint8.
    return np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)


def _array(dtype: Any, shape: Any, data: Any) -> np.ndarray:
    # The array an `_ARRAY` node holds (read only: a view of the node's bytes).
    return np.frombuffer(data, np.dtype(dtype)).reshape(shape)


def _unxor(name: str, data: Any, base: dict[str, np.ndarray]) -> np.ndarray:
    # The array of field `name` a delta holds as `data`, its XOR with the base's array of that field.
    old = base.get(name)
    if old is None or not isinstance(data, bytes) or len(data) != old.nbytes:
        raise SnapshotError(f"holds a delta of field {name!r} its base snapshot has no array of that size for")
    flat: np.ndarray = np.frombuffer(data, np.uint8) ^ _bytes(old)
    return flat.view(old.dtype).reshape(old.shape)


def _fields(value: Any) -> list[tuple[str, Any]]:
    # An instance's fields by name, in a fixed order: a struct's or named tuple's declared ones, else its attributes.
    if isinstance(value, msgspec.Struct):
        return [(name, getattr(value, name)) for name in value.__struct_fields__]
    if isinstance(value, tuple):
        return list(zip(type(value)._fields, value, strict=True))  # type: ignore[attr-defined]
    return [(name, getattr(value, name)) for name in _attributes(value)]



class _Reader:
    def __init__(self, base: dict[str, np.ndarray] | None = None) -> None:
        self.objects: list[Any] = []
        self.base = base or {}  # a delta's: the arrays of the snapshot before it, by field

    def node(self, node: Any) -> Any:
        if not isinstance(node, list):
            return node
        tag, rest = node[0], node[1:]
        if tag == _INT:
            return int(rest[0])
        if tag == _REF:
            return self.objects[rest[0]]
        if tag == _LIST:
            out: Any = []
            self.objects.append(out)
            out.extend(map(self.node, rest))
            return out
        if tag == _DICT:
            out = {}
            self.objects.append(out)
            items = [self.node(x) for x in rest]
            out.update(zip(items[::2], items[1::2], strict=True))
            return out
        if tag == _DEQUE:
            out = deque(maxlen=rest[0])
            self.objects.append(out)
            out.extend(map(self.node, rest[1:]))
            return out
        at = len(self.objects)
        self.objects.append(None)  # its number, taken before its parts (as the writer numbered it)
        if tag == _TUPLE:
            value: Any = tuple(map(self.node, rest))
        elif tag == _ARRAY:
            value = _array(*rest).copy()
        elif tag == _XOR:
            value = _unxor(rest[0], rest[1], self.base)
        elif tag == _OBJECT:
            value = self.instance(rest[0], rest[1:])
        else:
            raise SnapshotError(f"holds a node of unknown tag {tag!r}")
        self.objects[at] = value
        return value

    def instance(self, name: str, flat: list[Any]) -> Any:
        cls = _CLASSES.get(name)
        if cls is None:
            raise SnapshotError(f"names {name!r}, which is not a class of a clearing state")
        fields = {flat[i]: self.node(flat[i + 1]) for i in range(0, len(flat), 2)}
        if issubclass(cls, msgspec.Struct) or issubclass(cls, tuple):
            return cls(**fields)
        value = cls.__new__(cls)  # no constructor runs: the attributes are set as they were (a frozen dataclass's too)
        for key, item in fields.items():
            object.__setattr__(value, key, item)
        return value


def _state_fields(state: ClearingState) -> dict[str, Any]:
    return {**{name: getattr(state, name) for name in _attributes(state)}, **_TRANSIENT}


def dump(state: ClearingState) -> bytes:
    """Return the whole snapshot bytes of `state` (its fields, the transient ones reset)."""
    return zlib.compress(msgspec.msgpack.encode(_Writer().root(_state_fields(state))), _LEVEL)


class Encoder:
    """Writes one run's snapshots, in seq order: every `keyframe_every`-th whole, the others as deltas.

    A delta names the seq of the snapshot before it, which must be kept in the same log (the
    writer stores every snapshot it asks for, each with its checkpoint's row, in order).
    """

    def __init__(self, keyframe_every: int = KEYFRAME_EVERY) -> None:
        self.keyframe_every = keyframe_every
        self.written = 0
        self.base: tuple[int, dict[str, np.ndarray]] | None = None  # the last snapshot's seq and arrays

    def dump(self, state: ClearingState, seq: int) -> tuple[int, bytes]:
        """Return the (format, bytes) of the snapshot of `state` at `seq` (after every one dumped before)."""
        if self.base is not None and seq <= self.base[0]:
            raise ValueError(f"a snapshot at seq {seq} after the one at seq {self.base[0]}")
        base = self.base if self.written % self.keyframe_every else None  # None: a whole one
        writer = _Writer(base[1] if base else None)
        tree = writer.root(_state_fields(state))
        if base:
            tree = [_DELTA, base[0], tree]
        self.base = (seq, writer.arrays)
        self.written += 1
        return FORMAT if base else WHOLE_FORMAT, zlib.compress(msgspec.msgpack.encode(tree), _LEVEL)


def _tree(blob: bytes) -> Any:
    try:
        return msgspec.msgpack.decode(zlib.decompress(blob))
    except Exception as e:  # zlib.error, msgspec.DecodeError
        raise SnapshotError(f"does not load ({type(e).__name__}: {e})") from None


class Bases:
    """The arrays of a log's snapshots that deltas rest on, read by seq on demand (the last few kept).

    `fetch(seq)` returns the (format, bytes) of the log's snapshot at seq (and raises if there is none).
    """

    def __init__(self, fetch: Callable[[int], tuple[int, bytes]], keep: int = KEYFRAME_EVERY) -> None:
        self.fetch = fetch
        self.keep = keep
        self.known: dict[int, dict[str, np.ndarray]] = {}

    def root(self, tree: Any, below: int) -> tuple[Any, dict[str, np.ndarray]]:
        """Return a snapshot's tree of fields and the arrays of its base (none for a whole one); `below`: its seq."""
        if not (isinstance(tree, list) and tree and tree[0] == _DELTA):
            return tree, {}
        if len(tree) != 3 or type(tree[1]) is not int:
            raise SnapshotError("holds a malformed delta")
        return tree[2], self.arrays(tree[1], below)

    def arrays(self, seq: int, below: int) -> dict[str, np.ndarray]:
        """Return the state's arrays the snapshot at `seq` holds, by field (read only); `below`: the seq resting on it."""
        if seq >= below:
            raise SnapshotError(f"rests on the snapshot at seq {seq}, which is not before it")
        known = self.known.get(seq)
        if known is not None:
            return known
        try:
            fmt, blob = self.fetch(seq)
        except Exception as e:  # the log's own error: no snapshot there, or an unreadable file
            raise SnapshotError(f"rests on the snapshot at seq {seq}, which the log does not give ({e})") from None
        if fmt not in READS:
            raise SnapshotError(f"rests on the snapshot at seq {seq}, which is in format {fmt}")
        root, base = self.root(_tree(blob), seq)
        if not (isinstance(root, list) and root and root[0] == _DICT):
            raise SnapshotError(f"rests on the snapshot at seq {seq}, which does not hold a state's fields")
        arrays: dict[str, np.ndarray] = {}
        try:
            for name, node in zip(root[1::2], root[2::2], strict=True):
                if isinstance(node, list) and node and node[0] == _ARRAY:
                    arrays[name] = _array(*node[1:])
                elif isinstance(node, list) and node and node[0] == _XOR:
                    arrays[name] = _unxor(node[1], node[2], base)
        except SnapshotError:
            raise
        except Exception as e:  # a malformed array node
            raise SnapshotError(f"rests on the snapshot at seq {seq}, which does not load ({type(e).__name__}: {e})") from None
        self.remember(seq, arrays)
        return arrays

    def remember(self, seq: int, arrays: dict[str, np.ndarray]) -> None:
        """Keep the arrays of the snapshot at `seq` (read only), for a delta resting on it."""
        self.known[seq] = arrays
        while len(self.known) > self.keep:
            del self.known[min(self.known)]


def load(
    blob: bytes, fmt: int = FORMAT, digest: str | None = None, *, seq: int | None = None, bases: Bases | None = None
) -> ClearingState:
    """Return the state a snapshot holds (which must have `digest`, when given: its checkpoint's).

    A delta needs `bases`, where the snapshots it rests on are read, and `seq`, its own (each
    base must be before it); the arrays loaded are then kept in `bases` for a delta on this one.

    Raises:
        SnapshotError: the bytes do not decompress or decode to a state's fields, name a
            class that is not part of a state, `fmt` is not a format this version reads, a
            delta's bases do not load, or the state's digest is not `digest`.
    """
    if fmt not in READS:
        raise SnapshotError(f"is in format {fmt}, written by another version of clearing (this one reads {WHOLE_FORMAT} "
                            f"and {FORMAT})")  # fmt: skip
    tree = _tree(blob)
    if bases is None and isinstance(tree, list) and tree and tree[0] == _DELTA:
        raise SnapshotError("is a delta, and the snapshots it rests on were not given")
    try:
        root, base = (bases or Bases(lambda seq: (0, b""))).root(tree, 2**63 if seq is None else seq)
        fields = _Reader(base).node(root)
        if not isinstance(fields, dict) or any(type(k) is not str for k in fields) or \
                sorted(fields) != _attributes(ClearingState()):  # fmt: skip
            raise SnapshotError("does not hold a state's fields")
        state = ClearingState.__new__(ClearingState)
        for name, value in fields.items():
            setattr(state, name, value)
        if digest is not None and state.digest() != digest:  # a field of the wrong type fails here too
            raise SnapshotError("is not the state its checkpoint records")
    except SnapshotError:
        raise
    except Exception as e:  # what a corrupt or hostile tree makes a constructor or the digest raise
        raise SnapshotError(f"does not load ({type(e).__name__}: {e})") from None
    if bases is not None and seq is not None:
        bases.remember(seq, {name: value.copy() for name, value in fields.items() if type(value) is np.ndarray})
    return state
