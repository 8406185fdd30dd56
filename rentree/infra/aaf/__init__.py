"""The hardened AAF reader (feeds.md): `read_aaf` turns one file into a frame of raw strings.

`parser` streams the records, `head` refuses what must never reach the parser and reads the
header comments, `columns` is the one attribute-to-column map, `errors` the sentences that
reject a file.
"""

from rentree.infra.aaf.columns import (
    ATTRIBUTES,
    CATEGORY_ATTRIBUTE,
    RECORD_TAGS,
    Attribute,
    parsed_schema,
)
from rentree.infra.aaf.errors import (
    SECOND_DEGREE_EN,
    AafFileError,
    feed_name_of,
    second_degree_error,
)
from rentree.infra.aaf.head import ENCODINGS, AafHeader, root_tag
from rentree.infra.aaf.parser import ParsedFile, read_aaf

__all__ = [
    "ATTRIBUTES",
    "CATEGORY_ATTRIBUTE",
    "ENCODINGS",
    "RECORD_TAGS",
    "SECOND_DEGREE_EN",
    "AafFileError",
    "AafHeader",
    "Attribute",
    "ParsedFile",
    "feed_name_of",
    "parsed_schema",
    "read_aaf",
    "root_tag",
    "second_degree_error",
]
