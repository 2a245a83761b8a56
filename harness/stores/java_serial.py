"""Where one serialized Java object ends, found without deserializing it: how a JCEKS secret-key entry is skipped.

A JCEKS secret-key entry is a serialized ``SealedObjectForKeyProtector`` with
no length in front of it, so the entries after it can only be found by reading
past it. pyjks does that by deserializing it (javaobj), which expands object
references: 586 bytes of nested references cost minutes and gigabytes. Secret
keys play no part in TLS, so the harness never deserializes them; this reader
walks the stream grammar (Java Object Serialization Specification, 6.4) once,
each byte read once, references never followed, nesting bounded by
JAVA_OBJECT_DEPTH. ValueError when the stream is not one the JDK could read;
TooLarge when it nests too deeply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from harness.limits import JAVA_OBJECT_DEPTH, TooLarge

__all__ = ["end_of_object"]

_MAGIC = b"\xac\xed\x00\x05"
_BASE_HANDLE = 0x7E0000
(
    _NULL,
    _REFERENCE,
    _CLASSDESC,
    _OBJECT,
    _STRING,
    _ARRAY,
    _CLASS,
    _BLOCKDATA,
    _ENDBLOCKDATA,
    _RESET,
    _BLOCKDATALONG,
    _EXCEPTION,
    _LONGSTRING,
    _PROXYCLASSDESC,
    _ENUM,
) = range(0x70, 0x7F)
_WRITE_METHOD, _SERIALIZABLE, _EXTERNALIZABLE, _BLOCK_DATA = 0x01, 0x02, 0x04, 0x08
_PRIMITIVE_SIZES = {"B": 1, "C": 2, "D": 8, "F": 4, "I": 4, "J": 8, "S": 2, "Z": 1}


@dataclass
class _ClassDesc:
    name: str
    flags: int = 0
    fields: list[str] = field(default_factory=list)  # type codes, in stream order
    parent: _ClassDesc | None = None


_OTHER = object()  # a handle to anything but a class description: never looked into


def end_of_object(data: bytes, pos: int) -> int:
    """The offset just past the serialized object (stream magic, then one ``TC_OBJECT``) starting at ``pos``."""
    reader = _Reader(data, pos)
    if reader.take(4) != _MAGIC:
        raise ValueError("not a serialized Java object")
    if reader.peek() != _OBJECT:
        raise ValueError("not a serialized object")
    reader.content(0)
    return reader.pos


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos
        self.handles: list[object] = []

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated")
        return self.data[self.pos]

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def utf(self) -> str:
        return self.take(self.number(2)).decode("utf-8", "replace")

    def content(self, depth: int) -> object:
        """One element of the stream; a _ClassDesc for a class description, else None or _OTHER."""
        if depth > JAVA_OBJECT_DEPTH.value:
            raise TooLarge(JAVA_OBJECT_DEPTH)
        code = self.number(1)
        if code == _NULL:
            return None
        if code == _REFERENCE:
            index = self.number(4) - _BASE_HANDLE
            if not 0 <= index < len(self.handles):
                raise ValueError("reference to no handle")
            return self.handles[index]
        if code == _CLASSDESC:
            desc = _ClassDesc(self.utf())
            self.take(8)  # serialVersionUID
            self.handles.append(desc)
            desc.flags = self.number(1)
            for _ in range(self.number(2)):
                type_code = chr(self.number(1))
                self.utf()
                if type_code in "[L":
                    self.content(depth + 1)  # the field's class name, a String
                elif type_code not in _PRIMITIVE_SIZES:
                    raise ValueError("unknown field type")
                desc.fields.append(type_code)
            self.annotation(depth)
            desc.parent = self.class_desc(depth)
            return desc
        if code == _PROXYCLASSDESC:
            desc = _ClassDesc("(proxy)", _SERIALIZABLE)
            self.handles.append(desc)
            for _ in range(self.number(4)):
                self.utf()  # each interface name: at least 2 bytes, so the loop ends with the data
            self.annotation(depth)
            desc.parent = self.class_desc(depth)
            return desc
        if code == _STRING:
            self.handles.append(_OTHER)
            self.utf()
            return _OTHER
        if code == _LONGSTRING:
            self.handles.append(_OTHER)
            self.take(self.number(8))
            return _OTHER
        if code == _ARRAY:
            array_class = self.class_desc(depth)
            self.handles.append(_OTHER)
            size = struct.unpack(">i", self.take(4))[0]
            element = array_class.name[1:2] if array_class is not None else ""
            if element in _PRIMITIVE_SIZES:
                self.take(size * _PRIMITIVE_SIZES[element])
            elif element in ("L", "["):
                for _ in range(size):  # each element is at least one byte: ends with the data
                    self.content(depth + 1)
            else:
                raise ValueError("array of no known type")
            return _OTHER
        if code == _OBJECT:
            object_class = self.class_desc(depth)
            self.handles.append(_OTHER)
            self.class_data(object_class, depth)
            return _OTHER
        if code == _CLASS:
            self.class_desc(depth)
            self.handles.append(_OTHER)
            return _OTHER
        if code == _ENUM:
            self.class_desc(depth)
            self.handles.append(_OTHER)
            self.content(depth + 1)
            return _OTHER
        if code == _BLOCKDATA:
            self.take(self.number(1))
            return _OTHER
        if code == _BLOCKDATALONG:
            self.take(self.number(4))
            return _OTHER
        raise ValueError(f"type code {code:#x} does not occur in a key entry")

    def class_desc(self, depth: int) -> _ClassDesc | None:
        desc = self.content(depth + 1)
        if desc is not None and not isinstance(desc, _ClassDesc):
            raise ValueError("a class description was expected")
        return desc

    def annotation(self, depth: int) -> None:
        """Contents up to TC_ENDBLOCKDATA (class annotations, a writeObject method's data)."""
        while self.peek() != _ENDBLOCKDATA:
            self.content(depth + 1)
        self.pos += 1

    def class_data(self, desc: _ClassDesc | None, depth: int) -> None:
        """The values of an object of class ``desc``: each class's fields, top of the hierarchy first."""
        hierarchy: list[_ClassDesc] = []
        while desc is not None:
            if len(hierarchy) >= JAVA_OBJECT_DEPTH.value:  # also ends a class that is its own parent
                raise TooLarge(JAVA_OBJECT_DEPTH)
            hierarchy.append(desc)
            desc = desc.parent
        for cls in reversed(hierarchy):
            if cls.flags & _EXTERNALIZABLE:
                if not cls.flags & _BLOCK_DATA:
                    raise ValueError("externalizable data without block framing")
                self.annotation(depth)
                continue
            if cls.flags & _SERIALIZABLE:
                for type_code in cls.fields:
                    if type_code in "[L":
                        self.content(depth + 1)
                    else:
                        self.take(_PRIMITIVE_SIZES[type_code])
                if cls.flags & _WRITE_METHOD:
                    self.annotation(depth)
