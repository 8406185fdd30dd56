"""The phase flows by their names, listed once (the CLI, the demo and the deployments look
them up here). A flow's parameters are read from its signature, never listed again."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

# name -> the module and the function of the flow (imported on demand, so that a command
# loads only what it runs).
FLOWS: dict[str, str] = {
    "freeze": "rentree.flows.freeze:freeze",
    "staff-import": "rentree.flows.staff_import:staff_import",
    "onde-switch": "rentree.flows.onde_switch:onde_switch",
    "family-import": "rentree.flows.family_import:family_import",
    "attach-teachers": "rentree.flows.attach_teachers:attach_teachers",
    "share-purge": "rentree.flows.share_purge:share_purge",
    "retire-missing": "rentree.flows.retire_missing:retire_missing",
    "storage-report": "rentree.flows.storage_report:storage_report",
    "nightly": "rentree.flows.nightly:nightly",
}


def flow_by_name(name: str) -> Any:
    """The flow object of a name of `FLOWS`."""
    module, function = FLOWS[name].split(":")
    return getattr(importlib.import_module(module), function)


def parameters_of(flow: Any) -> dict[str, inspect.Parameter]:
    """The flow's parameters, from the signature of its function."""
    return dict(inspect.signature(flow.fn).parameters)
