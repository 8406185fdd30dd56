"""Put a generated delivery into the store's landing/, as the academy's transfer would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rentree.infra.naming import landing_key
from rentree.infra.storage import ObjectStore


def land_delivery(store: ObjectStore, region: Path, manifest: dict[str, Any], delivery: str) -> int:
    """Upload the files of `delivery` (an extraction date of the manifest); their count. In
    a region of several academies, every academy's files land in its own folder."""
    entry = next(d for d in manifest["deliveries"] if d["delivery"] == delivery)
    year = entry["school_year"]
    if "academies" in manifest:
        landed = 0
        for academy in manifest["academies"]:
            code = academy["code"]
            for name in academy["deliveries"][delivery]:
                store.upload(region / "landing" / year / code / name, landing_key(year, name, code))
                landed += 1
        return landed
    for file in entry["files"]:
        store.upload(region / "landing" / year / file["name"], landing_key(year, file["name"]))
    return len(entry["files"])
