"""Object storage: one small interface (`interface.ObjectStore`), a local folder (`local`) and
S3 (`s3`, boto3) behind it; `address` opens the store the settings or a worker name, `once`
moves and writes into the write-once roots.
"""

from rentree.infra.storage.address import StoreAddress, address_of, open_store
from rentree.infra.storage.interface import ObjectStore
from rentree.infra.storage.local import LocalStore
from rentree.infra.storage.once import move_once, sha256_of, write_once
from rentree.infra.storage.s3 import S3Store

__all__ = [
    "LocalStore",
    "ObjectStore",
    "S3Store",
    "StoreAddress",
    "address_of",
    "move_once",
    "open_store",
    "sha256_of",
    "write_once",
]
