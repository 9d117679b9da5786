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
"""

from __future__ import annotations

import zlib
from collections import deque
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


def _format() -> int:
    # The encoding's version and the shape of what it encodes (the state's fields, the classes by name with their
    # declared fields, the digest version), as a number: a snapshot written by code that differs in any of them is of
    # another format, passed over rather than misread.
    def declared(cls: type) -> tuple[str, ...]:
        # A struct's or named tuple's fields. Another class's attributes are not listed: the pure and fast builds
        # declare them differently (slots, __dict__, a compiled class's own), and a snapshot names each one it holds.
        names: tuple[str, ...] = getattr(cls, "__struct_fields__", None) or getattr(cls, "_fields", None) or ()
        return names

    shape = [2, DIGEST_VERSION, _attributes(ClearingState()), sorted((name, declared(cls)) for name, cls in _CLASSES.items())]
    return zlib.crc32(msgspec.json.encode(shape))


FORMAT = _format()  # stored with each snapshot
_LIST, _TUPLE, _DICT, _DEQUE, _ARRAY, _OBJECT, _REF, _INT = range(8)
_SCALARS = (str, bytes, float, bool, type(None))
_INT64 = (-(2**63), 2**63)


class SnapshotError(ValueError):
    """A snapshot's bytes do not load as a state (corrupt, or naming something that is not state)."""


class _Writer:
    def __init__(self) -> None:
        self.refs: dict[int, int] = {}  # id of an object written -> its reference number
        self.keep: list[Any] = []  # the objects referenced, alive while writing (ids stay theirs)

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


def _fields(value: Any) -> list[tuple[str, Any]]:
    # An instance's fields by name, in a fixed order: a struct's or named tuple's declared ones, else its attributes.
    if isinstance(value, msgspec.Struct):
        return [(name, getattr(value, name)) for name in value.__struct_fields__]
    if isinstance(value, tuple):
        return list(zip(type(value)._fields, value, strict=True))  # type: ignore[attr-defined]
    return [(name, getattr(value, name)) for name in _attributes(value)]



class _Reader:
    def __init__(self) -> None:
        self.objects: list[Any] = []

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
            dtype, shape, data = rest
            value = np.frombuffer(data, np.dtype(dtype)).reshape(shape).copy()
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


def dump(state: ClearingState) -> bytes:
    """Return the snapshot bytes of `state` (its fields, the transient ones reset)."""
    fields = {**{name: getattr(state, name) for name in _attributes(state)}, **_TRANSIENT}
    return zlib.compress(msgspec.msgpack.encode(_Writer().node(fields)), _LEVEL)


def load(blob: bytes, fmt: int = FORMAT, digest: str | None = None) -> ClearingState:
    """Return the state a snapshot holds (which must have `digest`, when given: its checkpoint's).

    Raises:
        SnapshotError: the bytes do not decompress or decode to a state's fields, name a
            class that is not part of a state, `fmt` is not a format this version reads, or
            the state's digest is not `digest`.
    """
    if fmt != FORMAT:
        raise SnapshotError(f"is in format {fmt}, written by another version of clearing (this one writes {FORMAT})")
    try:
        fields = _Reader().node(msgspec.msgpack.decode(zlib.decompress(blob)))
    except SnapshotError:
        raise
    except Exception as e:  # zlib.error, msgspec.DecodeError, and what a corrupt tree makes a constructor raise
        raise SnapshotError(f"does not load ({type(e).__name__}: {e})") from None
    if not isinstance(fields, dict) or sorted(fields) != _attributes(ClearingState()):
        raise SnapshotError("does not hold a state's fields")
    state = ClearingState.__new__(ClearingState)
    for name, value in fields.items():
        setattr(state, name, value)
    if digest is not None and state.digest() != digest:
        raise SnapshotError("is not the state its checkpoint records")
    return state
