"""An ONNX graph as a PyTorch module: weights become ``nn.Conv2d`` layers, the rest torch ops.

:func:`to_torch` turns a graph read by :func:`sedl.onnx_proto.parse_model` into an
:class:`OnnxModule`. Everything that depends only on weights is computed once when
the module is built (constant folding), so int8 weights stored with their scale
(``DequantizeLinear``) become ordinary float weights: the network is *dequantized*.
Each convolution becomes a named ``nn.Conv2d``, so ``print(module)`` lists the layers.
The quantization of activations (``QuantizeLinear`` then ``DequantizeLinear``) is
either emulated exactly (``fake_quant=True``, to match onnxruntime) or skipped (the
default: a float network through which gradients flow).
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sedl.onnx_proto import OnnxGraph

__all__ = ["OnnxModule", "to_torch"]


def _axis_view(t: torch.Tensor, x: torch.Tensor, axis: int) -> torch.Tensor:
    """Reshape a per-channel ``(C,)`` scale or zero point to broadcast along ``axis`` of ``x``."""
    if t.dim() == 0:
        return t
    shape = [1] * x.dim()
    shape[axis % x.dim()] = -1
    return t.reshape(shape)


def _reflect_pad(x: torch.Tensor, pads: list[int], mode: str) -> torch.Tensor:
    """ONNX Pad (``[begin_0, begin_1, ..., end_0, end_1, ...]``) on any axes, by gathering."""
    n = x.dim()
    for axis in range(n):
        before, after = pads[axis], pads[axis + n]
        if before == after == 0:
            continue
        size = x.shape[axis]
        idx = torch.arange(-before, size + after)
        if mode == "reflect":
            period = 2 * (size - 1)
            idx = idx.remainder(period)
            idx = torch.where(idx >= size, period - idx, idx)
        else:  # edge
            idx = idx.clamp(0, size - 1)
        x = x.index_select(axis, idx)
    return x


def _quantize(x, scale, zero, axis, dtype):
    lo, hi = (-128, 127) if dtype == torch.int8 else (0, 255)
    return (torch.round(x / _axis_view(scale, x, axis)) + _axis_view(zero, x, axis)).clamp(lo, hi)


def _reshape(x, shape):
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape.tolist())]
    return x.reshape(shape)


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes.tolist()
    steps = [1] * len(starts) if steps is None else steps.tolist()
    index = [slice(None)] * x.dim()
    for a, s, e, st in zip(axes, starts.tolist(), ends.tolist(), steps, strict=True):
        index[a] = slice(s, e, st)
    if min(steps) < 0:  # torch has no negative steps; NumPy's slices clamp as ONNX's do
        return torch.from_numpy(np.ascontiguousarray(x.detach().numpy()[tuple(index)]))
    return x[tuple(index)]


# op_type -> f(attributes, *inputs); inputs may be None where the graph leaves them out
_OPS = {
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: x / y,
    "Pow": lambda a, x, y: x.pow(y),
    "Sqrt": lambda a, x: x.sqrt(),
    "Reciprocal": lambda a, x: x.reciprocal(),
    "Relu": lambda a, x: F.relu(x),
    "Sigmoid": lambda a, x: torch.sigmoid(x),
    "Clip": lambda a, x, lo=None, hi=None: x.clamp(None if lo is None else float(lo),
                                                   None if hi is None else float(hi)),
    "Reshape": lambda a, x, shape: _reshape(x, shape),
    "Transpose": lambda a, x: x.permute(*a["perm"]),
    "Unsqueeze": lambda a, x, axes: x.unsqueeze(int(axes.reshape(-1)[0])),
    "Concat": lambda a, *xs: torch.cat(xs, dim=a["axis"]),
    "Cast": lambda a, x: x.to({1: torch.float32, 7: torch.int64, 6: torch.int32}[a["to"]]),
    "Slice": lambda a, x, *rest: _slice(x, *rest),
    "ConstantOfShape": lambda a, shape: torch.from_numpy(np.full(shape.tolist(), a["value"].reshape(-1)[0])),
    "GlobalAveragePool": lambda a, x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True),
    "ReduceMean": lambda a, x: x.mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1))),
    "ReduceSum": lambda a, x, axes: x.sum(dim=tuple(axes.tolist()), keepdim=bool(a.get("keepdims", 1))),
    "Pad": lambda a, x, pads, value=None: (
        _reflect_pad(x, pads.tolist(), a.get("mode", "constant")) if a.get("mode") in ("reflect", "edge")
        else F.pad(x, [p for i in reversed(range(x.dim()))
                       for p in (pads[i].item(), pads[i + x.dim()].item())],
                   value=0.0 if value is None else float(value))),
}


class OnnxModule(nn.Module):
    """A decoded ONNX graph run with PyTorch ops; ``forward(*inputs)`` returns the outputs.

    Attributes
    ----------
    convs : nn.ModuleDict
        One ``nn.Conv2d`` per convolution of the graph, named after its output in the
        graph (``/`` and ``.`` become ``_``).
    input_names, output_names : list of str
    fake_quant : bool
        Whether activations are rounded to int8 as the quantized graph prescribes.
    """

    def __init__(self, graph: OnnxGraph, *, fake_quant: bool = False):
        super().__init__()
        self.input_names, self.output_names = list(graph.inputs), list(graph.outputs)
        self.fake_quant = fake_quant
        consts = {k: torch.from_numpy(np.array(v)) for k, v in graph.initializers.items()}
        self.convs, self._steps = nn.ModuleDict(), []
        for node in graph.nodes:
            if node.op_type == "Constant":
                consts[node.outputs[0]] = torch.from_numpy(np.array(node.attributes["value"]))
            elif node.op_type == "Conv":
                self._add_conv(node, consts)
            elif all(i == "" or i in consts for i in node.inputs) and node.op_type != "QuantizeLinear":
                consts[node.outputs[0]] = self._run(node, [consts.get(i) for i in node.inputs])
            else:
                self._steps.append((node.op_type, node.inputs, node.outputs[0], node.attributes,
                                    {i: consts[i] for i in node.inputs if i in consts}))
        self._consts_used = {i for _, ins, _, _, _ in self._steps for i in ins}
        self.requires_grad_(False).eval()

    def _add_conv(self, node, consts):
        w = consts[node.inputs[1]].float()
        a = node.attributes
        conv = nn.Conv2d(w.shape[1] * a.get("group", 1), w.shape[0], tuple(w.shape[2:]),
                         stride=tuple(a.get("strides", (1, 1))), dilation=tuple(a.get("dilations", (1, 1))),
                         groups=a.get("group", 1), bias=len(node.inputs) > 2 and node.inputs[2] != "")
        with torch.no_grad():
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.copy_(consts[node.inputs[2]].float())
        pads = list(a.get("pads", (0, 0, 0, 0)))
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise ValueError(f"onnx Conv: expected explicit pads, got auto_pad={a['auto_pad']}")
        name = re.sub(r"[^0-9A-Za-z]+", "_", node.outputs[0]).strip("_")
        self.convs[name] = conv
        self._steps.append(("Conv", node.inputs[:1], node.outputs[0], {"module": name, "pads": pads}, {}))

    def _run(self, node, args):
        return self._op(node.op_type, node.attributes, args)

    def _op(self, op, attrs, args):
        if op == "DequantizeLinear":
            x, scale, zero = (list(args) + [None])[:3]
            zero = torch.zeros((), dtype=torch.float32) if zero is None else zero.float()
            if not self.fake_quant and x.is_floating_point():
                return x  # the quantize step before was skipped too
            return (x.float() - _axis_view(zero, x, attrs.get("axis", 1))) * _axis_view(
                scale.float(), x, attrs.get("axis", 1))
        if op == "QuantizeLinear":
            x, scale, zero = (list(args) + [None])[:3]
            if not self.fake_quant:
                return x
            dtype = torch.int8 if zero is None or zero.dtype == torch.int8 else torch.uint8
            zero = torch.zeros(()) if zero is None else zero.float()
            return _quantize(x, scale.float(), zero, attrs.get("axis", 1), dtype)
        if op == "Resize":
            x, scales = args[0], args[2]
            if attrs.get("mode", "nearest") != "nearest" or scales is None or scales.numel() != x.dim() \
                    or scales[:2].tolist() != [1.0, 1.0]:
                raise ValueError("onnx Resize: expected nearest-neighbour scaling of the spatial axes")
            return F.interpolate(x, scale_factor=tuple(scales[2:].tolist()), mode="nearest")
        if op not in _OPS:
            raise ValueError(f"onnx graph: expected one of the supported operations, got {op}")
        return _OPS[op](attrs, *args)

    def forward(self, *inputs: torch.Tensor, outputs: list[str] | None = None) -> list[torch.Tensor]:
        """Run the graph on ``inputs`` (in the order of ``input_names``); return ``outputs``
        (default the graph's outputs), any intermediate values named in the graph."""
        if len(inputs) != len(self.input_names):
            raise ValueError(f"inputs: expected {len(self.input_names)} tensors ({self.input_names}), "
                             f"got {len(inputs)}")
        wanted = self.output_names if outputs is None else list(outputs)
        env = dict(zip(self.input_names, inputs, strict=True))
        left = set(wanted) - set(env)
        for op, ins, out, attrs, consts in self._steps:
            if not left:
                break
            args = [consts[i] if i in consts else env.get(i) if i else None for i in ins]
            if op == "Conv":
                x, (top, left_, bottom, right) = args[0], attrs["pads"]
                env[out] = self.convs[attrs["module"]](F.pad(x, (left_, right, top, bottom)))
            else:
                env[out] = self._op(op, attrs, args)
            left.discard(out)
        missing = [name for name in wanted if name not in env]
        if missing:
            raise ValueError(f"outputs: expected names of values in the graph, got {missing}")
        return [env[name] for name in wanted]


def to_torch(graph: OnnxGraph, *, fake_quant: bool = False) -> OnnxModule:
    """Convert a decoded ONNX graph into a frozen :class:`OnnxModule` in eval mode."""
    if not isinstance(graph, OnnxGraph):
        raise TypeError(f"graph: expected a sedl.onnx_proto.OnnxGraph, got {type(graph).__name__}")
    if not isinstance(fake_quant, bool):
        raise TypeError(f"fake_quant: expected a bool, got {type(fake_quant).__name__}")
    return OnnxModule(graph, fake_quant=fake_quant)
