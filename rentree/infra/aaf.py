"""The hardened reader of AAF files ("Annuaire Académique Fédérateur", feeds.md).

A file is streamed with `lxml.etree.iterparse` and each record is cleared once read, so a
chunk of 50,000 records stays small in memory. The parser never loads a DTD, never
resolves an entity and never touches the network; a DOCTYPE with an internal subset or an
entity declaration is refused before parsing starts. The reader checks nothing beyond that
hardening and the file's shape: the contracts (`rentree.contracts`) check the values.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl
from lxml import etree

from rentree.infra.naming import FeedName, FeedNameError, FeedType, parse_feed_name

ROOT = "ficAlimMENESR"
RECORD_TAGS = {"addRequest": "add", "modifyRequest": "modify", "deleteRequest": "delete"}
CATEGORY_ATTRIBUTE = "categoriePersonne"
# Structure records name their category `categorieStructure` (the DTD's own comment names both).
CATEGORY_ATTRIBUTES = (CATEGORY_ATTRIBUTE, "categorieStructure")
# libxml2 refuses a text node longer than this without XML_PARSE_HUGE, which stays off.
MAX_VALUE_CHARS = 10_000_000
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Attribute:
    """An AAF attribute read into a column; `multi` attributes become lists."""

    aaf: str
    column: str
    multi: bool = False
    # the LDAP spelling older and second-degree exports use, read when `aaf` is absent
    fallback: str | None = None


ATTRIBUTES: dict[FeedType, tuple[Attribute, ...]] = {
    "EtabEducNat": (
        Attribute("ENTStructureUAI", "uai"),
        Attribute("ENTStructureNomCourant", "name"),
        Attribute("ENTStructureTypeStruct", "structure_type"),
        Attribute("ENTEcoleCirconscription", "district"),
        Attribute("ENTEcoleCommune", "town"),
        Attribute("ENTStructureCodePostal", "postcode"),
        Attribute("ENTEcoleRPI", "rpi"),
    ),
    "PersEducNat": (
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonDateNaissance", "birth_date"),
        Attribute("ENTPersonMail", "email", fallback="mail"),
        Attribute("ENTPersonStructRattach", "struct_ids", multi=True),
        Attribute("ENTPersonFonctions", "functions", multi=True),
        Attribute("ENTEnsFonctionDir", "director_of", multi=True),
        Attribute("ENTPersonCategorieEnseignant", "teacher_category"),
    ),
    "Eleve": (
        Attribute("ENTEleveINE", "ine"),
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonDateNaissance", "birth_date"),
        Attribute("ENTPersonStructRattach", "struct_ids", multi=True),
        Attribute("ENTPersonClasses", "classes", multi=True),
        Attribute("ENTEleveNiveau", "level"),
        Attribute("ENTEleveAutoriteParentale", "relative_ids", multi=True),
    ),
    "PersRelEleve": (
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonMail", "email", fallback="mail"),
        Attribute("ENTPersRelEleveTelMobile", "mobile"),
        Attribute("ENTPersonAdresse", "address"),
        Attribute("ENTPersonCodePostal", "postcode"),
        Attribute("ENTPersonVille", "city"),
        # the pupils a relative is responsible for (the relation seen from the relative's side)
        Attribute("ENTPersRelEleveEleve", "student_ids", multi=True),
    ),
}

COMMON_SCHEMA: dict[str, Any] = {
    "file": pl.String,
    "position": pl.Int64,
    "line": pl.Int64,
    "operation": pl.String,
    "category": pl.String,
    "external_id": pl.String,
    "modified": pl.List(pl.String),
    "extra": pl.String,
}

# Columns derived from `$`-separated values: (source column, part index, derived column).
_DERIVED: dict[FeedType, tuple[tuple[str, int, str], ...]] = {
    "EtabEducNat": (),
    "PersEducNat": (
        ("functions", 0, "function_struct_ids"),
        ("functions", 1, "function_codes"),
    ),
    "Eleve": (
        ("classes", 0, "class_struct_ids"),
        ("classes", 3, "class_codes"),
        ("classes", 4, "class_labels"),
    ),
    "PersRelEleve": (),
}


def parsed_schema(file_type: FeedType) -> dict[str, Any]:
    """Every column of a parsed frame of this type, in order, with its type."""
    schema = dict(COMMON_SCHEMA)
    for attribute in ATTRIBUTES[file_type]:
        schema[attribute.column] = pl.List(pl.String) if attribute.multi else pl.String
    for _, _, derived in _DERIVED[file_type]:
        schema[derived] = pl.List(pl.String)
    return schema


class AafFileError(Exception):
    """A file that cannot be read as an AAF file: the whole delivery is rejected (feeds.md).

    `str(error)` is one English sentence (what, where, what to do); `message_fr` says the
    same in French; `rule` names the check for the report; `line` is where, when known.
    """

    def __init__(
        self, sentence: str, *, rule: str, message_fr: str, line: int | None = None
    ) -> None:
        super().__init__(sentence)
        self.rule = rule
        self.message_fr = message_fr
        self.line = line


@dataclass(frozen=True)
class ParsedFile:
    feed: FeedName
    records: pl.DataFrame
    header: AafHeader | None = None


_ASK_ACADEMY_EN = "ask the academy to deliver the file again"
_ASK_ACADEMY_FR = "demandez à l'académie de livrer à nouveau le fichier"


def _file_error(
    name: str, rule: str, what_en: str, what_fr: str, line: int | None = None
) -> AafFileError:
    where = f"{name}, line {line}" if line else name
    return AafFileError(
        f"{where}: {what_en}; {_ASK_ACADEMY_EN}.",
        rule=rule,
        message_fr=f"{where} : {what_fr} ; {_ASK_ACADEMY_FR}.",
        line=line,
    )


def feed_name_of(file_name: str) -> FeedName:
    """The parsed name of a feed file, or an AafFileError (a name that does not match)."""
    try:
        return parse_feed_name(file_name)
    except FeedNameError as exc:
        base = file_name.rsplit("/", 1)[-1]
        raise AafFileError(
            str(exc),
            rule="file_name",
            message_fr=(
                f"{base} : le nom ne suit pas "
                "<préfixe>_<Complet|Delta>_<AAAAMMJJ>_<Type>_<NNNN>.xml ou le type est inconnu ; "
                "renommez le fichier comme l'académie le livre."
            ),
        ) from None


# -- the bytes before parsing: encoding, DOCTYPE and header comments -------------------------

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


def _header(head: bytes) -> AafHeader:
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


def _check_head(name: str, head: bytes) -> str:
    """Refuse, before the parser sees a byte, what must never reach it; return the codec
    the content is written in (the declared encoding; none declared means UTF-8).

    A UTF-8 byte order mark is accepted: the content is still UTF-8.
    """
    if not head.strip():
        raise _file_error(name, "empty", "the file is empty", "le fichier est vide")
    if head.startswith(_UTF16_32_BOMS) or head[:2] in (b"<\x00", b"\x00<"):
        raise _file_error(
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
            raise _file_error(
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
        raise _file_error(
            name,
            "doctype",
            "the DOCTYPE declares an internal subset or entities, which are never accepted",
            "le DOCTYPE déclare un sous-ensemble interne ou des entités, jamais acceptés",
        )
    if head.startswith(_UTF8_BOM) and codec != "utf-8":
        raise _file_error(
            name,
            "encoding",
            f"the file starts with a UTF-8 byte order mark but declares {declared[1].decode()}"
            if declared
            else "the file's byte order mark contradicts its declaration",
            "le fichier commence par une marque d'ordre UTF-8 mais déclare un autre encodage",
            line=1,
        )
    return codec


class _UndecodableBytes(Exception):
    """Bytes that do not decode under the file's declared encoding, at a line."""

    def __init__(self, line: int, codec: str) -> None:
        self.line = line
        self.codec = codec


class _Replay(io.RawIOBase):
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
                raise _UndecodableBytes(line, self._codec) from None
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
        head = stream.read(_HEAD_BYTES)
    body = head.removeprefix(_UTF8_BOM)
    for match in _ELEMENT_START.finditer(body):
        return match[1].decode("ascii", "replace")
    return None


_ELEMENT_START = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.:\-]*)")


@contextmanager
def _opened(source: str | Path | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, str | Path):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


# -- records ------------------------------------------------------------------------------


# Joins the values of a multi-valued attribute while reading: a control character that XML
# 1.0 text can never hold, split again by polars in one vectorised step.
_JOIN = "\x1f"


def _text(value: Any) -> str | None:
    """A value's text; an entity reference or an element inside a value is refused."""
    if len(value):
        raise _MarkupInValue(value)
    return value.text


def _values(attr: Any) -> list[str]:
    """The non-empty values of an `attr` or `modification` element (`<value/>` is none)."""
    texts = [v.text if not len(v) else _text(v) for v in attr]
    return [t for t in map(str.strip, filter(None, texts)) if t]


class _MarkupInValue(Exception):
    """A value holding an entity reference or an element instead of plain text."""

    def __init__(self, value: Any) -> None:
        self.line: int | None = value.sourceline
        entities = [child.name for child in value if isinstance(child, etree._Entity)]
        self.entity: str | None = entities[0] if entities else None


def read_aaf(source: str | Path | IO[bytes], file_name: str) -> ParsedFile:
    """Read one AAF file into a frame of raw strings, one row per record.

    Raises AafFileError, one sentence, for anything that makes the file unusable, and for a
    file whose header says it is a second-degree (`degre="2D"`) export.
    """
    feed = feed_name_of(file_name)
    with _opened(source) as stream:
        head = stream.read(_HEAD_BYTES)
        codec = _check_head(feed.name, head)
        header = _header(head)
        if header.degree == SECOND_DEGREE:
            raise second_degree_error(feed.name)
        replay = _Replay(head, stream, codec)
        try:
            columns = _parse(replay, feed)
        except _UndecodableBytes as exc:
            raise _file_error(
                feed.name,
                "encoding",
                f"the bytes do not decode as {exc.codec.upper()}, the encoding the file declares",
                f"les octets ne se décodent pas en {exc.codec.upper()}, l'encodage que le "
                "fichier déclare",
                exc.line,
            ) from None
    return ParsedFile(feed=feed, records=_frame(columns, feed.file_type), header=header)


SECOND_DEGREE_EN = "these are secondary-school files; rentree takes the 1D export"
SECOND_DEGREE_FR = "ce sont des fichiers du second degré ; rentree prend l'export 1D"


def second_degree_error(name: str) -> AafFileError:
    """A file of the second-degree export: the delivery is not for rentree at all."""
    return AafFileError(
        f'{name}: {SECOND_DEGREE_EN} (degre="2D"); ask the academy for the 1D export.',
        rule="second_degree",
        message_fr=f'{name} : {SECOND_DEGREE_FR} (degre="2D") ; demandez à l\'académie '
        "l'export 1D.",
    )


def _parse(stream: _Replay, feed: FeedName) -> dict[str, list[Any]]:
    name = feed.name
    attributes = {a.aaf: a for a in ATTRIBUTES[feed.file_type]}
    fallbacks = {a.fallback: a.aaf for a in attributes.values() if a.fallback}
    columns: dict[str, list[Any]] = {c: [] for c in COMMON_SCHEMA}
    for a in attributes.values():
        columns[a.column] = []
    parser = etree.iterparse(
        stream,
        events=("end",),
        tag=tuple(RECORD_TAGS),
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    checked = False
    position = 0
    try:
        for _event, record in parser:
            if not checked:
                _check_tree(name, record)
                checked = True
            parent = record.getparent()
            if parent is None or parent.getparent() is not None:
                # a record nested elsewhere than under the root is not a record of this file
                continue
            try:
                _read_record(record, position, feed, attributes, columns, fallbacks)
            except _MarkupInValue as exc:
                if exc.entity:
                    raise _file_error(
                        name,
                        "entity",
                        f"a value uses the entity &{exc.entity};, which is never loaded or "
                        f"expanded (Entity '{exc.entity}' not defined)",
                        f"une valeur utilise l'entité &{exc.entity};, jamais chargée ni "
                        f"développée (Entity '{exc.entity}' not defined)",
                        exc.line,
                    ) from None
                raise _file_error(
                    name,
                    "not_aaf",
                    "a value holds XML elements instead of text",
                    "une valeur contient des éléments XML au lieu de texte",
                    exc.line,
                ) from None
            position += 1
            # bounded memory: drop the record and everything read before it
            record.clear(keep_tail=False)
            while record.getprevious() is not None:
                del parent[0]
        root = parser.root
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(name, exc, stream, parser.error_log) from None
    if root is None:
        raise _file_error(name, "not_xml", "the file holds no XML element", "aucun élément XML")
    if not checked:
        _check_tree(name, root)
    return columns


def _check_tree(name: str, element: Any) -> None:
    tree = element.getroottree()
    root = tree.getroot()
    if root.tag != ROOT:
        raise _file_error(
            name,
            "root",
            f"the root element is <{root.tag}>, not <{ROOT}>",
            f"l'élément racine est <{root.tag}>, pas <{ROOT}>",
            root.sourceline,
        )
    dtd = tree.docinfo.internalDTD
    if dtd is not None and (list(dtd.iterentities()) or list(dtd.iterelements())):
        raise _file_error(
            name,
            "doctype",
            "the DOCTYPE declares an internal subset or entities, which are never accepted",
            "le DOCTYPE déclare un sous-ensemble interne ou des entités, jamais acceptés",
        )


def _syntax_error(name: str, exc: etree.XMLSyntaxError, stream: _Replay, log: Any) -> AafFileError:
    message = str(exc)
    line = exc.lineno or None
    column = exc.position[1] if exc.position else None
    # iterparse may raise a generic error ("no element found"); the parser's log holds the
    # first real reason and its line
    logged = [e for e in log if e.level_name == "FATAL"] or list(log)
    if logged and (not line or message.startswith("no element found")):
        message, line, column = logged[0].message, logged[0].line or line, logged[0].column
    if "encoding" in message or "UTF-8" in message:
        return _file_error(
            name,
            "encoding",
            "the content is not valid UTF-8",
            "le contenu n'est pas de l'UTF-8 valide",
            line,
        )
    if "too long" in message or "XML_PARSE_HUGE" in message:
        return _file_error(
            name,
            "value_too_large",
            f"a value is longer than {MAX_VALUE_CHARS:,} characters",
            f"une valeur dépasse {MAX_VALUE_CHARS:,} caractères",
            line,
        )
    if "amplification" in message or "Entity" in message or "entity" in message:
        reason = message.strip().rstrip(".")
        return _file_error(
            name,
            "entity",
            f"the file uses an entity that is not defined ({reason}); entities are never "
            "loaded or expanded, characters are written as themselves or as &#233;",
            f"le fichier utilise une entité non définie ({reason}) ; les entités ne sont "
            "jamais chargées ni développées, les caractères s'écrivent tels quels ou en &#233;",
            line,
        )
    if stream.ends_at(line, column) or "Premature end" in message:
        return _file_error(
            name,
            "truncated",
            "the file ends before its XML is complete (truncated)",
            "le fichier s'arrête avant la fin de son XML (tronqué)",
            line,
        )
    detail = message.split(", line")[0].split(" (line")[0]
    return _file_error(
        name,
        "not_xml",
        f"the file is not well-formed XML ({detail})",
        f"le fichier n'est pas du XML bien formé ({detail})",
        line,
    )


def _read_record(
    record: Any,
    position: int,
    feed: FeedName,
    attributes: dict[str, Attribute],
    columns: dict[str, list[Any]],
    fallbacks: dict[str, str],
) -> None:
    category: str | None = None
    external_id: str | None = None
    values: dict[str, list[str]] = {}
    modified: list[str] = []
    for part in record:
        tag = part.tag
        if tag == "operationalAttributes":
            for attr in part:
                if attr.get("name") in CATEGORY_ATTRIBUTES:
                    given = _values(attr)
                    category = given[0] if given else None
        elif tag == "identifier":
            for child in part:
                if child.tag == "id":
                    text = (_text(child) or "").strip()
                    external_id = text or None
        elif tag == "attributes":
            for attr in part:
                name = attr.get("name")
                # inlined _values: this loop runs for every attribute of every record
                texts = [v.text if not len(v) else _text(v) for v in attr]
                found = [t for t in map(str.strip, filter(None, texts)) if t]
                if name in values:
                    values[name] += found
                elif name:
                    values[name] = found
        elif tag == "modifications":
            for modification in part:
                name = modification.get("name")
                if name in fallbacks:
                    # a replaced `sn` replaces the name, unless ENTPersonNom is replaced too
                    name = fallbacks[name]
                    if name in values:
                        continue
                if name:
                    values[name] = _values(modification)
                    if name not in modified:
                        modified.append(name)
    if category is not None and category != feed.file_type:
        raise _file_error(
            feed.name,
            "category",
            f"record {external_id or position} has the category {category!r} "
            f"in a file of type {feed.file_type}",
            f"l'enregistrement {external_id or position} a la catégorie {category!r} "
            f"dans un fichier {feed.file_type}",
            record.sourceline,
        )
    operation = RECORD_TAGS[record.tag]
    columns["file"].append(feed.name)
    columns["position"].append(position)
    columns["line"].append(record.sourceline)
    columns["operation"].append(operation)
    columns["category"].append(category)
    columns["external_id"].append(external_id)
    columns["modified"].append(_JOIN.join(modified) if modified else None)
    extra = {k: v for k, v in values.items() if k not in attributes and k not in fallbacks}
    columns["extra"].append(json.dumps(extra, ensure_ascii=False) if extra else "{}")
    for aaf, attribute in attributes.items():
        found = values.get(aaf)  # type: ignore[assignment]
        if not found and attribute.fallback:
            # the 1D spelling wins; the LDAP one (sn, givenName, mail) stands in for it
            found = values.get(attribute.fallback)  # type: ignore[assignment]
        if attribute.multi:
            columns[attribute.column].append(_JOIN.join(found) if found else None)
        else:
            columns[attribute.column].append(found[0] if found else None)


def _frame(columns: dict[str, list[Any]], file_type: FeedType) -> pl.DataFrame:
    schema = parsed_schema(file_type)
    # list columns travel as joined text (fast to build), split here in one step each
    frame = pl.DataFrame(
        columns,
        schema={
            c: pl.String if t == pl.List(pl.String) else t
            for c, t in schema.items()
            if c in columns
        },
    ).with_columns(
        pl.when(pl.col(c).is_null())
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(pl.col(c).str.split(_JOIN))
        .alias(c)
        for c, t in schema.items()
        if c in columns and t == pl.List(pl.String)
    )
    derived = [
        pl.col(source)
        .list.eval(pl.element().str.split("$").list.get(index, null_on_oob=True))
        .alias(target)
        for source, index, target in _DERIVED[file_type]
    ]
    if file_type == "Eleve":
        # relatives are named by the first `$` part of ENTEleveAutoriteParentale
        derived.append(pl.col("relative_ids").list.eval(pl.element().str.split("$").list.first()))
    if derived:
        frame = frame.with_columns(derived)
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())
