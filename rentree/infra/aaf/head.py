"""The bytes of an AAF file before parsing: encoding, DOCTYPE and header comments.

What must never reach the parser (entity declarations, an internal DOCTYPE subset, an
encoding rentree does not read) is refused on the first bytes; `Replay` then hands those
bytes and the rest to the parser, transcoded to UTF-8.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rentree.infra.aaf.errors import file_error

HEAD_BYTES = 64 * 1024
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_ROOT_START = re.compile(rb"<[A-Za-z_:]")
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE\s[^\[>]*\[")
# The encodings real deliveries declare (feeds.md), by their lower-case names -> Python codec.
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "iso-8859-1": "iso-8859-1",
    "iso8859-1": "iso-8859-1",
    "latin1": "iso-8859-1",
    "latin-1": "iso-8859-1",
    "iso-8859-15": "iso-8859-15",
    "iso8859-15": "iso-8859-15",
    "latin-9": "iso-8859-15",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
}
# `<!-- codeAcademieExport="13" -->`, `<!-- degre="1D" -->`, `<!-- versionAF="AAF-VE2407" -->`
_HEADER_COMMENT = re.compile(
    rb"""<!--\s*(codeAcademieExport|degre|versionAF)\s*=\s*"([^"]*)"\s*-->"""
)
SECOND_DEGREE = "2D"


@dataclass(frozen=True)
class AafHeader:
    """What a file's header comments say about the export, when they say it."""

    academy: str | None = None  # codeAcademieExport
    degree: str | None = None  # degre: 1D (primary, what rentree takes) or 2D (secondary)
    version: str | None = None  # versionAF, e.g. AAF-VE2407


def read_header(head: bytes) -> AafHeader:
    """The header comments among the first bytes (they come before the first record)."""
    found = {
        m[1].decode("ascii"): m[2].decode("ascii", "replace").strip()
        for m in _HEADER_COMMENT.finditer(head)
    }
    return AafHeader(
        academy=found.get("codeAcademieExport") or None,
        degree=found.get("degre") or None,
        version=found.get("versionAF") or None,
    )


def check_head(name: str, head: bytes) -> str:
    """Refuse, before the parser sees a byte, what must never reach it; return the codec
    the content is written in (the declared encoding; none declared means UTF-8).

    A UTF-8 byte order mark is accepted: the content is still UTF-8.
    """
    if not head.strip():
        raise file_error(name, "empty", "the file is empty", "le fichier est vide")
    if head.startswith(_UTF16_32_BOMS) or head[:2] in (b"<\x00", b"\x00<"):
        raise file_error(
            name,
            "encoding",
            "the file is UTF-16 or UTF-32 encoded, which rentree does not read "
            "(UTF-8, ISO-8859-1, ISO-8859-15 or windows-1252)",
            "le fichier est encodé en UTF-16 ou UTF-32, que rentree ne lit pas "
            "(UTF-8, ISO-8859-1, ISO-8859-15 ou windows-1252)",
        )
    body = head.removeprefix(_UTF8_BOM).lstrip()
    declared = _DECLARED_ENCODING.match(body)
    codec = "utf-8"
    if declared:
        encoding = declared[1].decode("ascii")
        if encoding.lower() not in ENCODINGS:
            raise file_error(
                name,
                "encoding",
                f"the file declares the encoding {encoding}, which rentree does not read "
                "(UTF-8, ISO-8859-1, ISO-8859-15 or windows-1252)",
                f"le fichier déclare l'encodage {encoding}, que rentree ne lit pas "
                "(UTF-8, ISO-8859-1, ISO-8859-15 ou windows-1252)",
                line=1,
            )
        codec = ENCODINGS[encoding.lower()]
    root = _ROOT_START.search(body)
    prolog = body[: root.start()] if root else body
    if b"<!ENTITY" in prolog or _INTERNAL_SUBSET.search(prolog):
        raise file_error(
            name,
            "doctype",
            "the DOCTYPE declares an internal subset or entities, which are never accepted",
            "le DOCTYPE déclare un sous-ensemble interne ou des entités, jamais acceptés",
        )
    if head.startswith(_UTF8_BOM) and codec != "utf-8":
        raise file_error(
            name,
            "encoding",
            f"the file starts with a UTF-8 byte order mark but declares {declared[1].decode()}"
            if declared
            else "the file's byte order mark contradicts its declaration",
            "le fichier commence par une marque d'ordre UTF-8 mais déclare un autre encodage",
            line=1,
        )
    return codec


class UndecodableBytes(Exception):
    """Bytes that do not decode under the file's declared encoding, at a line."""

    def __init__(self, line: int, codec: str) -> None:
        self.line = line
        self.codec = codec


class Replay(io.RawIOBase):
    """A stream that gives back the bytes already read for the checks, then the rest.

    A file declared in another encoding than UTF-8 is decoded (strictly) and handed to the
    parser as UTF-8, so that the parser reads one encoding and a byte that does not decode
    is reported with its line.
    """

    def __init__(self, head: bytes, rest: IO[bytes], codec: str = "utf-8") -> None:
        self._head = head
        self._rest = rest
        self._codec = codec
        self._decoder = None if codec == "utf-8" else codecs.getincrementaldecoder(codec)()
        self._pending = b""
        # where the bytes read so far end, to tell a truncated file from a malformed one
        self.lines = 1
        self.last_line_bytes = 0
        self.eof = False

    def readable(self) -> bool:
        return True

    def _raw(self, size: int | None) -> bytes:
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                chunk, self._head = self._head, b""
            else:
                chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._rest.read(size if size is not None and size >= 0 else -1)

    def _transcoded(self, size: int | None) -> bytes:
        if self._decoder is None:
            return self._raw(size)
        while not self._pending:
            raw = self._raw(size)
            try:
                text = self._decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                done = exc.object[: exc.start]
                line = self.lines + self._pending.count(b"\n") + done.count(b"\n")
                raise UndecodableBytes(line, self._codec) from None
            # the parser is told the content is UTF-8: the declaration stays as it was
            self._pending = text.encode("utf-8")
            if not raw:
                break
        if size is None or size < 0:
            chunk, self._pending = self._pending, b""
        else:
            chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._transcoded(size)
        if not chunk:
            self.eof = True
            return b""
        newlines = chunk.count(b"\n")
        if newlines:
            self.lines += newlines
            self.last_line_bytes = len(chunk) - chunk.rfind(b"\n") - 1
        else:
            self.last_line_bytes += len(chunk)
        return chunk

    def ends_at(self, line: int | None, column: int | None) -> bool:
        """Whether a parser error sits at the very end of the file (the file is cut short)."""
        return (
            self.eof
            and line == self.lines
            and column is not None
            and column >= self.last_line_bytes
        )


def root_tag(source: str | Path) -> str | None:
    """The name of a file's root element, read from its first bytes only (no parsing): what
    tells a file of another AAF type from a file that is no AAF file at all."""
    with open(source, "rb") as stream:
        head = stream.read(HEAD_BYTES)
    body = head.removeprefix(_UTF8_BOM)
    for match in _ELEMENT_START.finditer(body):
        return match[1].decode("ascii", "replace")
    return None


_ELEMENT_START = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.:\-]*)")
