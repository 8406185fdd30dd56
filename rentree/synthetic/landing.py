"""Put a generated delivery into the store's landing/, as the academy's transfer would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rentree.infra.naming import landing_key
from rentree.infra.storage import ObjectStore


def land_delivery(store: ObjectStore, region: Path, manifest: dict[str, Any], delivery: str) -> int:
    """Upload the files of `delivery` (an extraction date of the manifest); their count."""
    entry = next(d for d in manifest["deliveries"] if d["delivery"] == delivery)
    year = entry["school_year"]
    for file in entry["files"]:
        store.upload(region / "landing" / year / file["name"], landing_key(year, file["name"]))
    return len(entry["files"])
