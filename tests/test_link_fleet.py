"""The partner simulator lodges the manifests of a fleet file's trucks (the demo's world writes one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gate_link.config import SimulatorConfig
from gate_link.sim import load_fleet


def test_a_fleet_file_gives_the_simulators_trucks(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"schema": "gate_link.fleet/1", "trucks": [
        {"consignment": "DX-1", "plates": ["29C12345"], "codes": ["CSQU3054383"], "case": "ok"},
        {"consignment": "DX-2", "plates": ["桂A12345"], "codes": [], "case": "flagged"}]}))
    trucks = load_fleet(path)
    assert [(t.consignment, t.plates, t.case) for t in trucks] == [("DX-1", ("29C12345",), "ok"),
                                                                   ("DX-2", ("桂A12345",), "flagged")]
    assert SimulatorConfig(fleet=str(path)).fleet == str(path)


@pytest.mark.parametrize(("doc", "message"), [
    ({"schema": "other"}, "not a gate_link.fleet/1 file"),
    ({"schema": "gate_link.fleet/1", "trucks": [{"consignment": "DX-1"}]}, "not a fleet file"),
    ({"schema": "gate_link.fleet/1", "trucks": [{"consignment": "DX-1", "plates": [], "codes": [], "case": "lost"}]},
     "unknown case 'lost'"),
])
def test_a_malformed_fleet_file_is_refused_with_why(tmp_path: Path, doc: dict[str, object], message: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        load_fleet(path)
    with pytest.raises(ValidationError, match=message):
        SimulatorConfig(fleet=str(path))


def test_a_missing_fleet_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the fleet"):
        SimulatorConfig(fleet=str(tmp_path / "none.json"))
