"""tools.plates.soup: the mean of the weights of fine-tunes of one network, on small ONNX graphs run by
onnxruntime; graphs that differ are refused; the command's recipe names each ingredient's hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tools.plates import soup


def net(weight: np.ndarray, bias: np.ndarray, shape: tuple[int, ...] = (2,), op: str = "Add") -> onnx.ModelProto:
    """y = Reshape(x @ W, shape) <op> b: float weights and one integer initializer (the shape)."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]),
         helper.make_node("Reshape", ["h", "shape"], ["r"]),
         helper.make_node(op, ["r", "b"], ["y"])],
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight.astype(np.float32), "W"), numpy_helper.from_array(bias.astype(np.float32), "b"),
         numpy_helper.from_array(np.asarray(shape, np.int64), "shape")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x.astype(np.float32)})[0])


def test_the_soup_runs_the_network_with_the_mean_of_the_weights() -> None:
    rng = np.random.default_rng(1)
    parts = [(rng.normal(size=(3, 2)), rng.normal(size=2)) for _ in range(3)]
    mixed = soup.soup([net(w, b) for w, b in parts])
    x = rng.normal(size=(1, 3))
    mean_w = np.mean([w for w, _ in parts], axis=0)
    mean_b = np.mean([b for _, b in parts], axis=0)
    np.testing.assert_allclose(run(mixed, x), (x @ mean_w).reshape(2) + mean_b, rtol=1e-5)
    got = {i.name: numpy_helper.to_array(i) for i in mixed.graph.initializer}
    np.testing.assert_allclose(got["W"], mean_w, rtol=1e-5)
    assert got["shape"].tolist() == [2]


def test_weights_weigh_and_one_model_is_itself() -> None:
    a, b = net(np.zeros((3, 2)), np.zeros(2)), net(np.ones((3, 2)), np.ones(2))
    got = {i.name: numpy_helper.to_array(i) for i in soup.soup([a, b], [3.0, 1.0]).graph.initializer}
    np.testing.assert_allclose(got["W"], np.full((3, 2), 0.25))
    alone = soup.soup([b])
    assert alone.SerializeToString() == b.SerializeToString()


@pytest.mark.parametrize("other, why", [
    (net(np.ones((3, 2)), np.ones(2), op="Mul"), "another graph"),
    (net(np.ones((3, 2)), np.ones((1, 2)), shape=(1, 2)), "another graph"),
])
def test_networks_that_differ_are_refused(other: onnx.ModelProto, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        soup.soup([net(np.ones((3, 2)), np.ones(2)), other])


def test_bad_weights_and_no_models_are_refused() -> None:
    model = net(np.ones((3, 2)), np.ones(2))
    for weights in ([1.0], [1.0, -1.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="weights"):
            soup.soup([model, model], weights)
    with pytest.raises(ValueError, match="at least one"):
        soup.soup([])


def folder(path: Path, model: onnx.ModelProto, config: dict[str, object], recipe: dict[str, object]) -> Path:
    path.mkdir()
    onnx.save(model, str(path / "model.onnx"))
    (path / "config.json").write_text(json.dumps(config))
    (path / "recipe.json").write_text(json.dumps(recipe))
    return path


def test_the_command_writes_the_soup_its_config_and_a_recipe_of_hashes(tmp_path: Path) -> None:
    config = {"input": {"height": 96, "width": 192}}
    a = folder(tmp_path / "a", net(np.zeros((3, 2)), np.zeros(2)), config, {"lr": 1e-3})
    b = folder(tmp_path / "b", net(np.ones((3, 2)), np.ones(2)), config, {"lr": 5e-4})
    out = tmp_path / "soup"
    assert soup.main(["--out", str(out), str(a), str(b)]) == 0
    recipe = json.loads((out / "recipe.json").read_text())
    digest = hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    assert recipe["model_sha256"] == digest
    assert [i["model_sha256"] for i in recipe["ingredients"]] == [
        hashlib.sha256((f / "model.onnx").read_bytes()).hexdigest() for f in (a, b)]
    assert [i["recipe"]["lr"] for i in recipe["ingredients"]] == [1e-3, 5e-4]
    assert json.loads((out / "config.json").read_text()) == config
    np.testing.assert_allclose(run(onnx.load(str(out / "model.onnx")), np.ones((1, 3))), [2.0, 2.0])


def test_the_command_keeps_a_config_out_has_but_not_one_read_at_another_input(tmp_path: Path) -> None:
    model = net(np.ones((3, 2)), np.ones(2))
    a = folder(tmp_path / "a", model, {"input": {"height": 96}}, {})
    out = tmp_path / "shipped"
    out.mkdir()
    shipped = {"input": {"height": 96}, "province": {"folder": "province"}}
    (out / "config.json").write_text(json.dumps(shipped))
    assert soup.main(["--out", str(out), str(a)]) == 0
    assert json.loads((out / "config.json").read_text()) == shipped
    (out / "config.json").write_text(json.dumps({"input": {"height": 64}}))
    with pytest.raises(SystemExit, match="input differs"):
        soup.main(["--out", str(out), str(a)])


def test_the_command_refuses_ingredients_read_at_other_inputs(tmp_path: Path) -> None:
    model = net(np.ones((3, 2)), np.ones(2))
    a = folder(tmp_path / "a", model, {"input": {"height": 96}}, {})
    b = folder(tmp_path / "b", model, {"input": {"height": 64}}, {})
    with pytest.raises(SystemExit, match="input differs"):
        soup.main(["--out", str(tmp_path / "soup"), str(a), str(b)])
