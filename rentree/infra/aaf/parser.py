"""The hardened reader of AAF files ("Annuaire Académique Fédérateur", feeds.md).

A file is streamed with `lxml.etree.iterparse` and each record is cleared once read, so a
chunk of 50,000 records stays small in memory. The parser never loads a DTD, never
resolves an entity and never touches the network; a DOCTYPE with an internal subset or an
entity declaration is refused before parsing starts (`head`). The reader checks nothing
beyond that hardening and the file's shape: the contracts (`rentree.contracts`) check the
values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl
from lxml import etree

from rentree.infra.aaf.columns import (
    ATTRIBUTES,
    CATEGORY_ATTRIBUTES,
    COMMON_SCHEMA,
    JOIN,
    RECORD_TAGS,
    Attribute,
    to_frame,
)
from rentree.infra.aaf.errors import AafFileError, feed_name_of, file_error, second_degree_error
from rentree.infra.aaf.head import (
    HEAD_BYTES,
    SECOND_DEGREE,
    AafHeader,
    Replay,
    UndecodableBytes,
    check_head,
    read_header,
)
from rentree.infra.aaf.plain import MAX_VALUE_CHARS, NotPlain, PlainReader
from rentree.infra.naming import FeedName

ROOT = "ficAlimMENESR"
# The plain path hands the parser the bytes in pieces of this size.
FEED_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ParsedFile:
    feed: FeedName
    records: pl.DataFrame
    header: AafHeader | None = None


@contextmanager
def _opened(source: str | Path | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, str | Path):
        with open(source, "rb") as stream:
            yield stream
    else:
        yield source


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
        head = stream.read(HEAD_BYTES)
        codec = check_head(feed.name, head)
        header = read_header(head)
        if header.degree == SECOND_DEGREE:
            raise second_degree_error(feed.name)
        start = _start_of_content(stream)
        records: pl.DataFrame | None = None
        if start is not None:
            try:
                records = _parse_plain(Replay(head, stream, codec), feed)
            except NotPlain:
                # the exact path reads the file again and says what is wrong, if anything
                stream.seek(start)
        try:
            if records is None:
                records = to_frame(_parse(Replay(head, stream, codec), feed), feed.file_type)
        except UndecodableBytes as exc:
            raise file_error(
                feed.name,
                "encoding",
                f"the bytes do not decode as {exc.codec.upper()}, the encoding the file declares",
                f"les octets ne se décodent pas en {exc.codec.upper()}, l'encodage que le "
                "fichier déclare",
                exc.line,
            ) from None
    return ParsedFile(feed=feed, records=records, header=header)


def _start_of_content(stream: IO[bytes]) -> int | None:
    """Where the bytes after the head start, when the stream can go back there."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError):
        return None


# The hardening both paths parse with: no DTD, no entity, no network, no huge text.
_HARDENED: dict[str, Any] = {
    "encoding": "utf-8",
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
    "dtd_validation": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _hardened(stream: Replay) -> Any:
    """The records of the stream, as the hardened parser reads them."""
    return etree.iterparse(stream, events=("end",), tag=tuple(RECORD_TAGS), **_HARDENED)


class _Unbuilt:
    """A parser target that builds nothing: the parser only checks the bytes."""

    def close(self) -> None:
        return None


def _parse_plain(stream: Replay, feed: FeedName) -> pl.DataFrame:
    """The records of a file in the plain shape (`plain`): the hardened parser checks every
    byte without building a tree, and polars reads the same bytes into columns. Raises
    NotPlain for anything else, errors included: the exact path then says what is wrong."""
    reader = PlainReader(feed)
    # no start/end/data callbacks: libxml2 is given none, so it builds nothing
    parser = etree.XMLParser(target=_Unbuilt(), **_HARDENED)  # type: ignore[arg-type]
    try:
        while chunk := stream.read(FEED_BYTES):
            parser.feed(chunk)
            reader.take(chunk)
        parser.close()
    except (etree.XMLSyntaxError, UndecodableBytes):
        raise NotPlain from None
    return to_frame(reader.finish(), feed.file_type)


def _parse(stream: Replay, feed: FeedName) -> dict[str, list[Any]]:
    name = feed.name
    attributes = {a.aaf: a for a in ATTRIBUTES[feed.file_type]}
    fallbacks = {a.fallback: a.aaf for a in attributes.values() if a.fallback}
    columns: dict[str, list[Any]] = {c: [] for c in COMMON_SCHEMA}
    for a in attributes.values():
        columns[a.column] = []
    parser = _hardened(stream)
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
                    raise file_error(
                        name,
                        "entity",
                        f"a value uses the entity &{exc.entity};, which is never loaded or "
                        f"expanded (Entity '{exc.entity}' not defined)",
                        f"une valeur utilise l'entité &{exc.entity};, jamais chargée ni "
                        f"développée (Entity '{exc.entity}' not defined)",
                        exc.line,
                    ) from None
                raise file_error(
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
        raise file_error(name, "not_xml", "the file holds no XML element", "aucun élément XML")
    if not checked:
        _check_tree(name, root)
    return columns


def _check_tree(name: str, element: Any) -> None:
    tree = element.getroottree()
    root = tree.getroot()
    if root.tag != ROOT:
        raise file_error(
            name,
            "root",
            f"the root element is <{root.tag}>, not <{ROOT}>",
            f"l'élément racine est <{root.tag}>, pas <{ROOT}>",
            root.sourceline,
        )
    dtd = tree.docinfo.internalDTD
    if dtd is not None and (list(dtd.iterentities()) or list(dtd.iterelements())):
        raise file_error(
            name,
            "doctype",
            "the DOCTYPE declares an internal subset or entities, which are never accepted",
            "le DOCTYPE déclare un sous-ensemble interne ou des entités, jamais acceptés",
        )


def _syntax_error(name: str, exc: etree.XMLSyntaxError, stream: Replay, log: Any) -> AafFileError:
    message = str(exc)
    line = exc.lineno or None
    column = exc.position[1] if exc.position else None
    # iterparse may raise a generic error ("no element found"); the parser's log holds the
    # first real reason and its line
    logged = [e for e in log if e.level_name == "FATAL"] or list(log)
    if logged and (not line or message.startswith("no element found")):
        message, line, column = logged[0].message, logged[0].line or line, logged[0].column
    if "encoding" in message or "UTF-8" in message:
        return file_error(
            name,
            "encoding",
            "the content is not valid UTF-8",
            "le contenu n'est pas de l'UTF-8 valide",
            line,
        )
    if "too long" in message or "XML_PARSE_HUGE" in message:
        return file_error(
            name,
            "value_too_large",
            f"a value is longer than {MAX_VALUE_CHARS:,} characters",
            f"une valeur dépasse {MAX_VALUE_CHARS:,} caractères",
            line,
        )
    if "amplification" in message or "Entity" in message or "entity" in message:
        reason = message.strip().rstrip(".")
        return file_error(
            name,
            "entity",
            f"the file uses an entity that is not defined ({reason}); entities are never "
            "loaded or expanded, characters are written as themselves or as &#233;",
            f"le fichier utilise une entité non définie ({reason}) ; les entités ne sont "
            "jamais chargées ni développées, les caractères s'écrivent tels quels ou en &#233;",
            line,
        )
    if stream.ends_at(line, column) or "Premature end" in message:
        return file_error(
            name,
            "truncated",
            "the file ends before its XML is complete (truncated)",
            "le fichier s'arrête avant la fin de son XML (tronqué)",
            line,
        )
    detail = message.split(", line")[0].split(" (line")[0]
    return file_error(
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
        raise file_error(
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
    columns["modified"].append(JOIN.join(modified) if modified else None)
    extra = {k: v for k, v in values.items() if k not in attributes and k not in fallbacks}
    columns["extra"].append(json.dumps(extra, ensure_ascii=False) if extra else "{}")
    for aaf, attribute in attributes.items():
        found = values.get(aaf)  # type: ignore[assignment]
        if not found and attribute.fallback:
            # the 1D spelling wins; the LDAP one (sn, givenName, mail) stands in for it
            found = values.get(attribute.fallback)  # type: ignore[assignment]
        if attribute.multi:
            columns[attribute.column].append(JOIN.join(found) if found else None)
        else:
            columns[attribute.column].append(found[0] if found else None)
