"""Tests of sedl.onnx_torch: ONNX graphs run as PyTorch modules (reference: onnxruntime, in
tests/test_fast_style.py)."""

import pytest
import torch

from sedl import fast_style, onnx_proto, onnx_torch


@pytest.mark.parametrize("graph, kwargs, error", [("graph", {}, TypeError),
                                                  (None, {"fake_quant": "no"}, TypeError)])
def test_to_torch_bad_input(graph, kwargs, error):
    graph = fast_style.onnx_graph("multistyle26") if graph is None else graph
    with pytest.raises(error, match="graph|fake_quant"):
        onnx_torch.to_torch(graph, **kwargs)


def test_an_unsupported_operation_is_named():
    graph = onnx_proto.OnnxGraph([onnx_proto.OnnxNode("Softmax", ["x"], ["y"])], {}, ["x"], ["y"])
    with pytest.raises(ValueError, match="Softmax"):
        onnx_torch.to_torch(graph)(torch.rand(2))
