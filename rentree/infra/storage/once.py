"""Write-once roots (`archive/`, `quarantine/`): moving and writing without ever replacing
an object, on any backend."""

from __future__ import annotations

import hashlib

from rentree.infra.naming import beside_key, is_write_once
from rentree.infra.storage.interface import CHUNK, ObjectStore


def sha256_of(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(key) as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _free_key(store: ObjectStore, key: str, digest: str) -> tuple[str, bool]:
    """Where an object of this content goes under `key` in a write-once root, and whether the
    very same bytes lie there already."""
    for candidate in (key, beside_key(key, digest), beside_key(key, digest, len(digest))):
        if not store.exists(candidate):
            return candidate, False
        if sha256_of(store, candidate) == digest:
            return candidate, True
    raise FileExistsError(f"{key}: two different objects claim the same content hash.")


def move_once(store: ObjectStore, src: str, dst: str) -> str:
    """Move an object, never replacing one of a write-once root (`archive/`, `quarantine/`):
    another object of that name stays, and this one goes beside it (its name suffixed by its
    hash); the same bytes there already just end the source. Returns where it lies now."""
    if not is_write_once(dst) or not store.exists(dst):
        store.move(src, dst)
        return dst
    target, present = _free_key(store, dst, sha256_of(store, src))
    if present:
        store.delete(src)
    else:
        store.move(src, target)
    return target


def write_once(store: ObjectStore, key: str, data: bytes) -> str:
    """Write an object like `move_once` moves one; returns its key."""
    if not is_write_once(key) or not store.exists(key):
        store.write_bytes(key, data)
        return key
    target, present = _free_key(store, key, hashlib.sha256(data).hexdigest())
    if not present:
        store.write_bytes(target, data)
    return target
