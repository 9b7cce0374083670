"""Tests of sedl.onnx_proto: the small protobuf decoder of ONNX files (compared with onnxruntime's
view of the same graphs in tests/test_fast_style.py)."""

import numpy as np
import pytest

from sedl import fast_style, onnx_proto


@pytest.mark.parametrize("blob, error", [("a string", TypeError), (b"\x08\x07", ValueError),
                                         (b"\x0b", ValueError), (b"\x08", ValueError)])
def test_parse_model_bad_input(blob, error):
    with pytest.raises(error, match="blob|wire type|onnx"):
        onnx_proto.parse_model(blob)


def test_parse_model_reads_nodes_attributes_and_weights():
    graph = fast_style.onnx_graph("arbitrary_transform")
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert len(conv.attributes["kernel_shape"]) == 2 and len(conv.attributes["pads"]) == 4
    weights = [v for k, v in graph.initializers.items() if v.dtype == np.int8]
    assert weights and all(w.dtype == np.int8 for w in weights)
