"""SIMULATED cargo traffic for the demo: trucks with plates and container codes, the manifests the partner
simulator lodges for them (most right; some missing, naming other containers, expired or flagged), and
the ``link.sim_plates`` evidence that "reads" a truck of that traffic at each crossing."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from gatecore.api import Evidence, Outcome, TransactionContext, container_check_digit

from . import claims
from .config import SimPlatesConfig

Case = Literal["ok", "no_manifest", "container_mismatch", "expired", "flagged"]
CASES: tuple[Case, ...] = get_args(Case)


@dataclass(frozen=True, slots=True)
class Truck:
    """One simulated truck: its plates and containers, and what its manifest will be."""

    consignment: str
    plates: tuple[str, ...]
    codes: tuple[str, ...]
    case: Case


def container_code(rng: random.Random) -> str:
    head = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)) + "U" + f"{rng.randrange(10**6):06d}"
    return head + str(container_check_digit(head))


def fleet(n: int, seed: int, weights: Mapping[Case, float]) -> list[Truck]:
    """``n`` simulated trucks from ``seed``; ``weights``: the share of each case but ``ok``."""
    rng = random.Random(seed)
    cases: list[Case] = ["ok", *weights]
    shares = [max(0.0, 1.0 - sum(weights.values())), *weights.values()]
    trucks = []
    for i in range(n):
        letter = rng.choice("ABCDEFGHJK")
        plates = (f"桂{letter}{rng.randrange(10**5):05d}", f"桂{letter}{rng.randrange(10**4):04d}挂")
        codes = tuple(container_code(rng) for _ in range(rng.choice((1, 1, 2))))
        trucks.append(Truck(f"DX-{seed}-{i:06d}", plates, codes, rng.choices(cases, shares)[0]))
    return trucks



FLEET = "gate_link.fleet/1"


def load_fleet(path: str | Path) -> list[Truck]:
    """The trucks of a fleet file (``{"schema": "gate_link.fleet/1", "trucks": [{"consignment", "plates",
    "codes", "case"}, ...]}``); ValueError says what is wrong."""
    try:
        doc = json.loads(Path(path).read_text())
        if doc.get("schema") != FLEET:
            raise ValueError(f"not a {FLEET} file")
        trucks = [Truck(str(t["consignment"]), tuple(t["plates"]), tuple(t["codes"]), t["case"]) for t in doc["trucks"]]
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the fleet: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a fleet file: {exc}") from exc
    bad = sorted({t.case for t in trucks} - set(CASES))
    if bad:
        raise ValueError(f"{path}: unknown case {bad[0]!r}; cases: {', '.join(CASES)}")
    return trucks


class SimPlates:
    """SIMULATED: each crossing of the lane is a truck of the simulated traffic, drawn at random."""

    def __init__(self, config: SimPlatesConfig, lane_id: str, trucks: Sequence[Truck], seed: int) -> None:
        self.source = config.source
        self.trucks = trucks
        self.rng = random.Random(f"{seed}/{lane_id}/{config.source}")

    async def collect(self, txn: TransactionContext) -> Evidence:
        t0 = time.monotonic()
        truck = self.rng.choice(self.trucks)
        return Evidence(self.source, "link.sim_plates", Outcome.PASS, 0.99, "simulated",
                        claims.make(truck.plates, truck.codes, 0.99),
                        {"plates": len(truck.plates), "containers": len(truck.codes)},
                        elapsed_ms=(time.monotonic() - t0) * 1000)
