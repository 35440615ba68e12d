"""dlib's face-recognition ResNet, read from dlib's own file and written as an ONNX graph.

The network is the one of dlib's ``dnn_face_recognition_ex.cpp`` (``anet_type``):
a 7×7/2 convolution with 32 filters, max pooling, then 14 residual blocks of
two 3×3 convolutions (32, 64, 128 and 256 filters; the first block of each
width after the first halves the resolution and adds an average-pooled
shortcut), global average pooling and a 128×256 matrix without bias. Each
convolution is followed by an ``affine`` layer (batch normalisation frozen
into a per-channel scale and shift). The input is a 150×150 RGB chip, each
channel less dlib's mean and divided by 256.

dlib serialises a network from the outermost layer in: the loss layer, then
one version number per layer down to the input layer, then each layer's
parameters from the input up (``dlib/dnn/core.h``, ``add_layer``). Tag and
skip layers (which mark where a shortcut starts and ends) write only their
version, so the reader follows the known architecture and checks each
layer's name, shape and hyper-parameters against it; a file of any other
network is refused.

Where dlib adds two tensors of different shapes (``add_prev``), the result has
the larger of each dimension and the missing values of the smaller one are
zero: the graph pads both inputs at the end before adding. This happens at
every change of width (32 → 64 channels, …) and once in space (a 3×3 branch
added to a 4×4 shortcut).

The graph takes ``chips``, uint8 [N, 150, 150, 3] RGB as dlib's
``get_face_chip`` cuts them, and gives ``embedding``, float32 [N, 128],
dlib's descriptor unnormalised. Writing it is deterministic: the same
``.dat`` gives the same bytes, whose SHA-256 the model manifest pins.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.dlib_format import DlibFormatError, DlibStream

CHIP_SIZE = 150
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime since 1.10
# (filters, halves the resolution) of each residual block, input to output.
BLOCKS = (
    *[(32, False)] * 3,
    (64, True),
    *[(64, False)] * 3,
    (128, True),
    *[(128, False)] * 2,
    (256, True),
    *[(256, False)] * 2,
    (256, True),
)
EMBEDDING_SIZE = 128
Floats = npt.NDArray[np.float32]


@dataclass
class Layer:
    """One computational layer read from the file (tag and skip layers have no parameters)."""

    kind: str
    weights: list[Floats] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)  # kernel rows and columns (convolution and pooling)
    stride: int = 1
    padding: int = 0


def _layer_plan() -> tuple[list[str], list[int]]:
    """The computational layers in forward order, and the version numbers dlib writes from the loss layer in.

    A residual block is ``tag1``, convolution, affine, relu, convolution, affine,
    then (for a block that halves the resolution) ``tag2``, ``skip1`` and a 2×2
    average pool of the block's input, then ``add_prev``, relu.
    """
    kinds = ["con", "affine", "relu", "max_pool"]
    versions = [3, 2, 2, 2]  # the innermost layer (over the input) is written in the newer format
    for _filters, down in BLOCKS:
        body = ["con", "affine", "relu", "con", "affine"]
        kinds += body + (["avg_pool"] if down else []) + ["add_prev", "relu"]
        versions += [1] + [2] * 5 + ([1, 1, 2] if down else []) + [2, 2]
    kinds += ["avg_pool", "fc"]
    versions += [2, 2]
    return kinds, versions[::-1]


def read_network(data: bytes) -> tuple[Floats, list[Layer]]:
    """Read dlib's ``dlib_face_recognition_resnet_model_v1.dat``: the input means (R, G, B) and the layers.

    Raises :class:`~models.dlib_format.DlibFormatError` when the file is not
    this network in a format this reader knows.
    """
    stream = DlibStream(data)
    stream.expect(1, "the loss layer's version")
    if stream.expect_string(("loss_metric_", "loss_metric_2"), "the loss layer") == "loss_metric_2":
        stream.next_float(), stream.next_float()  # the training margin and distance threshold
    kinds, versions = _layer_plan()
    found = [stream.next_int() for _ in versions]
    if found[:-1] != versions[:-1] or found[-1] not in (2, 3):
        raise DlibFormatError("the layers are not those of dlib's face-recognition ResNet")
    stream.expect_string(("input_rgb_image_sized",), "the input layer")
    means = np.array([stream.next_float() for _ in range(3)], np.float32)
    stream.expect(CHIP_SIZE, "the input rows")
    stream.expect(CHIP_SIZE, "the input columns")
    layers = []
    for index, kind in enumerate(kinds):
        layers.append(_read_layer(stream, kind))
        innermost = index == 0
        for _ in range(3):  # setup called, gradient stale, output disabled
            stream.next_bool()
        stream.next_tensor(), stream.next_tensor()  # gradient and cached output: empty after training
        if innermost:
            stream.next_tensor()
            if found[-1] == 3:
                stream.next_int()  # sample expansion factor
        else:
            stream.next_tensor()  # parameter gradient
    if stream.remaining:
        raise DlibFormatError(f"{stream.remaining} bytes after the network")
    return means, layers


def _read_layer(stream: DlibStream, kind: str) -> Layer:
    if kind == "con":
        version = stream.expect_string(("con_4", "con_5", "con_6"), "a convolution")
        params = stream.next_tensor().ravel()
        filters = stream.next_int()
        rows, columns, stride_y, stride_x = (stream.next_int() for _ in range(4))
        padding_y, padding_x = stream.next_int(), stream.next_int()
        shape = stream.next_alias()
        stream.next_alias()  # the biases: one per filter, after the weights
        for _ in range(4):  # learning-rate and weight-decay multipliers
            stream.next_float()
        if version in ("con_5", "con_6") and not stream.next_bool():
            raise DlibFormatError("a convolution without bias")
        if version == "con_6" and stream.next_bool():
            raise DlibFormatError("a convolution with a fused relu")
        if stride_x != stride_y or padding_x != padding_y or shape[0] != filters:
            raise DlibFormatError("a convolution with unequal strides or paddings")
        count = int(np.prod(shape))
        if params.size != count + filters:
            raise DlibFormatError("a convolution whose parameters do not fit its shape")
        return Layer(kind, [params[:count].reshape(shape), params[count:]], (rows, columns), stride_y, padding_y)
    if kind == "affine":
        version = stream.expect_string(("affine_", "affine_2"), "an affine layer")
        params = stream.next_tensor().ravel()
        gamma, beta = stream.next_alias(), stream.next_alias()
        stream.expect(0, "the affine layer's mode (convolutional)")
        if version == "affine_2" and stream.next_bool():
            raise DlibFormatError("a disabled affine layer")
        channels = gamma[1]
        if beta != gamma or params.size != 2 * channels:
            raise DlibFormatError("an affine layer whose parameters do not fit")
        return Layer(kind, [params[:channels], params[channels:]])
    if kind == "relu":
        if stream.expect_string(("relu_", "relu_2"), "a relu") == "relu_2" and stream.next_bool():
            raise DlibFormatError("a disabled relu")
        return Layer(kind)
    if kind in ("max_pool", "avg_pool"):
        stream.expect_string((f"{kind}_2",), f"a {kind}")
        rows, columns, stride_y, stride_x, padding_y, padding_x = (stream.next_int() for _ in range(6))
        if rows != columns or stride_y != stride_x or padding_y != padding_x:
            raise DlibFormatError("a pooling layer that is not square")
        return Layer(kind, [], (rows, columns), stride_y, padding_y)
    if kind == "add_prev":
        stream.expect_string(("add_prev_",), "an add_prev layer")
        return Layer(kind)
    version = stream.expect_string(("fc_2", "fc_3"), "the fully connected layer")
    outputs, inputs = stream.next_int(), stream.next_int()
    params = stream.next_tensor().ravel()
    stream.next_alias(), stream.next_alias()
    stream.expect(1, "the fully connected layer's bias mode (none)")
    for _ in range(4):
        stream.next_float()
    if version == "fc_3":
        stream.next_bool()
    if outputs != EMBEDDING_SIZE or params.size != inputs * outputs:
        raise DlibFormatError("a fully connected layer of the wrong size")
    return Layer(kind, [params.reshape(inputs, outputs)])


class _Graph:
    """Builds the ONNX graph node by node, tracking each tensor's shape (channels, rows, columns)."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self._count = 0

    def constant(self, values: npt.NDArray[Any], name: str) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(values), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attributes: Any) -> str:
        self._count += 1
        output = f"{op.lower()}_{self._count}"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=output, **attributes))
        self.shapes[output] = shape
        return output

    def conv(self, x: str, layer: Layer) -> str:
        weights, bias = layer.weights
        _, rows, columns = self.shapes[x]
        k = layer.size[0]
        out = (
            weights.shape[0],
            (rows + 2 * layer.padding - k) // layer.stride + 1,
            (columns + 2 * layer.padding - k) // layer.stride + 1,
        )
        name = f"conv{self._count + 1}"
        return self.node(
            "Conv",
            [x, self.constant(weights, f"{name}.w"), self.constant(bias, f"{name}.b")],
            out,
            kernel_shape=list(layer.size),
            strides=[layer.stride] * 2,
            pads=[layer.padding] * 4,
        )

    def relu(self, x: str, layer: Layer) -> str:
        return self.node("Relu", [x], self.shapes[x])

    def affine(self, x: str, layer: Layer) -> str:
        gamma, beta = (w.reshape(1, -1, 1, 1) for w in layer.weights)
        name = f"affine{self._count + 1}"
        scaled = self.node("Mul", [x, self.constant(gamma, f"{name}.gamma")], self.shapes[x])
        return self.node("Add", [scaled, self.constant(beta, f"{name}.beta")], self.shapes[x])

    def pool(self, x: str, layer: Layer) -> str:
        channels, rows, columns = self.shapes[x]
        if layer.size == (0, 0):  # dlib's avg_pool_everything
            return self.node("GlobalAveragePool", [x], (channels, 1, 1))
        k = layer.size[0]
        out = (
            channels,
            (rows + 2 * layer.padding - k) // layer.stride + 1,
            (columns + 2 * layer.padding - k) // layer.stride + 1,
        )
        op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
        strides, pads = [layer.stride] * 2, [layer.padding] * 4
        return self.node(op, [x], out, kernel_shape=list(layer.size), strides=strides, pads=pads)

    def add(self, a: str, b: str) -> str:
        """dlib's ``add_prev``: the larger of each dimension, the smaller tensor zero-padded at its end."""
        target = tuple(max(p, q) for p, q in zip(self.shapes[a], self.shapes[b], strict=True))
        padded = [self._pad_to(x, target) for x in (a, b)]
        return self.node("Add", padded, target)  # type: ignore[arg-type]

    def _pad_to(self, x: str, target: tuple[int, ...]) -> str:
        shape = self.shapes[x]
        if shape == target:
            return x
        pads = np.array([0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape, strict=True))], np.int64)
        name = f"pad{self._count + 1}"
        return self.node("Pad", [x, self.constant(pads, f"{name}.pads")], target, mode="constant")  # type: ignore[arg-type]


def build_model(means: Floats, layers: list[Layer]) -> Any:
    """The ONNX model (``onnx.ModelProto``) of the network read by :func:`read_network`."""
    import onnx

    g = _Graph(onnx)
    x = g.node("Cast", ["chips"], (CHIP_SIZE, CHIP_SIZE, 3), to=onnx.TensorProto.FLOAT)
    x = g.node("Transpose", [x], (3, CHIP_SIZE, CHIP_SIZE), perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.constant(means.reshape(1, 3, 1, 1), "input.mean")], g.shapes[x])
    x = g.node("Mul", [x, g.constant(np.full((1, 1, 1, 1), 1 / 256, np.float32), "input.scale")], g.shapes[x])
    layer = iter(layers)
    x = g.pool(g.relu(g.affine(g.conv(x, next(layer)), next(layer)), next(layer)), next(layer))
    for filters, down in BLOCKS:
        shortcut = x
        x = g.relu(g.affine(g.conv(x, next(layer)), next(layer)), next(layer))
        x = g.affine(g.conv(x, next(layer)), next(layer))
        if g.shapes[x][0] != filters:
            raise DlibFormatError(f"a residual block of {g.shapes[x][0]} filters, expected {filters}")
        if down:
            shortcut = g.pool(shortcut, next(layer))
        next(layer)  # add_prev
        x = g.relu(g.add(x, shortcut), next(layer))
    x = g.pool(x, next(layer))
    flat = g.node("Flatten", [x], g.shapes[x], axis=1)
    g.nodes.append(onnx.helper.make_node("MatMul", [flat, g.constant(next(layer).weights[0], "fc.w")], ["embedding"]))
    graph = onnx.helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [onnx.helper.make_tensor_value_info("chips", onnx.TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [onnx.helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, ["N", EMBEDDING_SIZE])],
        g.initializers,
    )
    model = onnx.helper.make_model(
        graph,
        producer_name="lethe models convert",
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(source: Path, destination: Path) -> Path:
    """Read dlib's ResNet from ``source`` and write its ONNX graph to ``destination`` (atomically)."""
    import onnx

    means, layers = read_network(source.read_bytes())
    data = build_model(means, layers).SerializeToString(deterministic=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        onnx.checker.check_model(tmp_name)
        os.replace(tmp_name, destination)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return destination
