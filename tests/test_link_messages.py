"""The link's messages against the JSON Schemas in the repo, and what their signature covers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_link import schemas
from gate_link.canonical import encode, signed, signing_input
from gate_link.messages import KINDS, MAX_VERSION, MODELS, draft, example, time_text
from gate_link.suites import generate
from gate_link.verify import Refused, parse

from .link_kit import manifest

EXAMPLES = int(os.environ.get("GATECORE_PROPERTY_EXAMPLES", "60"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((schemas.DIR / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_files_are_what_the_models_say() -> None:
    """``python -m gate_link.schemas`` has been run since the models last changed."""
    files = {p.name: p.read_text() for p in Path(schemas.DIR).glob("*.json")}
    assert files == {name: schemas.text(doc) for name, doc in schemas.documents().items()}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_unsigned_and_signed_passes_its_schema_and_its_model(kind: str) -> None:
    message = example(kind, time.time())
    check = validator(f"{kind}-1.json")
    check.validate(message)
    wire = signed({**message, "sent": time_text(time.time())}, generate("ed25519", "k-1"), validated=True)
    check.validate(wire)
    assert parse(encode(wire))[1] == MODELS[kind].model_validate(wire)


@pytest.mark.parametrize(("change", "where"), [
    ({"containers": [{"code": "CSQU3054384", "seals": []}]}, "containers.0.code"),  # wrong check digit
    ({"version": 0}, "version"),
    ({"version": 1.0}, "version"),
    ({"version": MAX_VERSION + 1}, "version"),
    ({"valid_until": "2026-02-30T00:00:00Z"}, "valid_until"),
    ({"vehicle": {"plates": []}}, "vehicle.plates"),
    ({"flagged": "no"}, "flagged"),
    ({"extra": 1}, "extra"),
])
def test_a_manifest_that_breaks_a_rule_is_refused_with_where(change: dict[str, Any], where: str) -> None:
    message = {**draft("manifest", "dongxing", "mong-cai", time.time(), **manifest()), **change}
    with pytest.raises(Refused) as refused:
        parse(encode(message))
    assert refused.value.reason == "schema" and refused.value.detail.startswith(where)


def test_a_check_digit_the_schema_cannot_see_is_still_refused() -> None:
    """The JSON Schema gives the shape of a container code; the check digit is the model's (ISO 6346)."""
    message = draft("manifest", "dongxing", "mong-cai", time.time(), **manifest(codes=("CSQU3054383",)))
    message["containers"][0]["code"] = "CSQU3054384"
    validator("manifest-1.json").validate(message)
    with pytest.raises(Refused):
        parse(encode(message))


TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=EXAMPLES, deadline=None)
@given(plates=st.lists(TEXT, min_size=1, max_size=4), version=st.integers(1, MAX_VERSION),
       created=st.floats(0, 4e9, allow_nan=False), kid=st.sampled_from(["k", "dx-2026a", "Z9:/._-x"]))
def test_the_quick_canonical_form_of_a_valid_message_is_rfc_8785(plates: list[str], version: int, created: float,
                                                                 kid: str) -> None:
    """For any message its model accepts, whatever text its strings hold, the standard library's sorted compact
    JSON is byte for byte the RFC 8785 form (``rfc8785``) - so signer and receiver may use the quick one."""
    fields = {**manifest(version=version), "vehicle": {"plates": plates}}
    message = {**draft("manifest", "dongxing", "mong-cai", created, **fields), "sent": time_text(created),
               "signature": {"suite": "sm2", "kid": kid, "value": "AAAA"}}
    MODELS["manifest"].model_validate(message)
    assert signing_input(message, validated=True) == signing_input(message) == rfc8785.dumps(
        {**message, "signature": {"suite": "sm2", "kid": kid}})


def test_the_signature_covers_the_suite_and_the_key_id() -> None:
    key = generate("ed25519", "k-1")
    wire = signed({**example("receipt", time.time()), "sent": time_text(time.time())}, key, validated=True)
    swapped = {**wire, "signature": {**wire["signature"], "kid": "k-2"}}
    assert signing_input(swapped) != signing_input(wire)
