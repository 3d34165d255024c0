"""The JSON Schemas of the link's messages and trust list, made from their models: ``schemas/KIND-1.json``.

    python -m gate_link.schemas        # write them (the tests check the files are what the models say)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .messages import MODELS, VERSION
from .trust import TrustListModel

DIR = Path(__file__).with_name("schemas")


def documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every message kind and the trust list."""
    models: dict[str, type[BaseModel]] = {**MODELS, "trust": TrustListModel}
    out = {}
    for kind, model in models.items():
        schema = model.model_json_schema(by_alias=True)
        out[f"{kind}-{VERSION}.json"] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                                         "$id": f"https://gatecore.invalid/schemas/link/{kind}-{VERSION}.json",
                                         **schema}
    return out


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DIR.mkdir(exist_ok=True)
    for name, document in documents().items():
        (DIR / name).write_text(text(document))


if __name__ == "__main__":
    main()
