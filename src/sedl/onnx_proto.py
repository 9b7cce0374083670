"""Read an ONNX file without the ``onnx`` package: a small decoder of the protobuf fields used.

An ONNX model is a protocol-buffer message (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
The book needs only its graph: the nodes in order, their attributes, and the weight
tensors. Protobuf's wire format is simple enough to read in a page of code (a field is
a varint key ``number << 3 | wire_type`` followed by a varint, 4 or 8 bytes, or a
length-prefixed blob), so the networks can be converted to PyTorch without a new
dependency. Only what the book's three networks use is supported; anything else is a
clear ``ValueError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OnnxNode", "OnnxGraph", "parse_model"]

# TensorProto.DataType -> NumPy dtype (https://onnx.ai/onnx/api/mapping.html)
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}


@dataclass
class OnnxNode:
    """One operation of the graph: ``outputs = op_type(inputs, **attributes)``."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass
class OnnxGraph:
    """The decoded graph: nodes in execution order, weights by name, input and output names."""

    nodes: list[OnnxNode]
    initializers: dict[str, np.ndarray]
    inputs: list[str]
    outputs: list[str]


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview):
    """Yield ``(field number, wire type, value)``: an int, or a memoryview for blobs."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"onnx file: expected protobuf wire type 0, 1, 2 or 5, got {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _ints(wire: int, value) -> list[int]:
    """Repeated int64 fields come packed (one blob of varints) or one per key."""
    if wire == 0:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_signed(v))
    return out


def _floats(wire: int, value) -> list[float]:
    if wire == 5:
        return [struct.unpack("<f", value.to_bytes(4, "little"))[0]]
    return list(np.frombuffer(bytes(value), dtype="<f4"))


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
    dims, dtype, name, raw, floats, ints = [], 1, "", None, [], []
    for number, wire, value in _fields(buf):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            dtype = value
        elif number == 4:
            floats += _floats(wire, value)
        elif number in (5, 7):  # int32_data (also int8 and uint8), int64_data
            ints += _ints(wire, value)
        elif number == 8:
            name = bytes(value).decode()
        elif number == 9:
            raw = bytes(value)
        elif number in (13, 14) and value:
            raise ValueError(f"onnx tensor {name!r}: expected data inside the file, got external data")
    if dtype not in _DTYPES:
        raise ValueError(f"onnx tensor {name!r}: expected one of the data types {sorted(_DTYPES)}, "
                         f"got {dtype}")
    np_dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
    if raw is not None:
        array = np.frombuffer(raw, dtype=np_dtype)
    else:
        array = np.asarray(floats if dtype == 1 else ints).astype(np_dtype)
    return name, array.astype(_DTYPES[dtype]).reshape(dims)


def _attribute(buf: memoryview) -> tuple[str, object]:
    name, value, ints, floats = "", None, [], []
    for number, wire, raw in _fields(buf):
        if number == 1:
            name = bytes(raw).decode()
        elif number == 2:
            value = _floats(wire, raw)[0]
        elif number == 3:
            value = _signed(raw)
        elif number == 4:
            value = bytes(raw).decode()
        elif number == 5:
            value = _tensor(raw)[1]
        elif number == 7:
            floats += _floats(wire, raw)
        elif number == 8:
            ints += _ints(wire, raw)
    if value is None:
        value = ints or floats
    return name, value


def _node(buf: memoryview) -> OnnxNode:
    node = OnnxNode("", [], [])
    for number, _, value in _fields(buf):
        if number == 1:
            node.inputs.append(bytes(value).decode())
        elif number == 2:
            node.outputs.append(bytes(value).decode())
        elif number == 4:
            node.op_type = bytes(value).decode()
        elif number == 5:
            key, attr = _attribute(value)
            node.attributes[key] = attr
    return node


def _value_name(buf: memoryview) -> str:
    return next(bytes(v).decode() for n, _, v in _fields(buf) if n == 1)


def parse_model(blob: bytes) -> OnnxGraph:
    """Decode the graph of an ONNX ``ModelProto`` given as bytes.

    Returns
    -------
    OnnxGraph
        Nodes in file order (ONNX requires topological order), the initializers as
        NumPy arrays, and the names of the graph's inputs that are not initializers.
    """
    if not isinstance(blob, bytes | bytearray):
        raise TypeError(f"blob: expected the bytes of an ONNX file, got {type(blob).__name__}")
    try:
        return _parse(memoryview(blob))
    except IndexError:  # a varint that runs past the end
        raise ValueError("blob: expected a complete ONNX file, got one that ends inside a field") from None


def _parse(blob: memoryview) -> OnnxGraph:
    graph = next((v for n, w, v in _fields(blob) if n == 7 and w == 2), None)
    if graph is None:
        raise ValueError("blob: expected an ONNX model with a graph (field 7), got none")
    nodes, inits, inputs, outputs = [], {}, [], []
    for number, _, value in _fields(graph):
        if number == 1:
            nodes.append(_node(value))
        elif number == 5:
            key, array = _tensor(value)
            inits[key] = array
        elif number == 11:
            inputs.append(_value_name(value))
        elif number == 12:
            outputs.append(_value_name(value))
    return OnnxGraph(nodes, inits, [i for i in inputs if i not in inits], outputs)
