"""Records in the plain shape of real deliveries, read column-wise by polars (feeds.md).

The hardened parser still reads every byte of the file (`parser`): well-formedness, the
encoding, the refusal of entities and of oversized values stay its work. This module reads the
same bytes again, as text, some megabytes at a time, and builds the columns with a few
vectorised polars steps per block instead of Python per record.

It reads only the plain shape: records holding `operationalAttributes`, `identifier`,
`attributes` and `modifications` in that order, each of `attr`/`modification` elements of
`value`s, with nothing but whitespace and simple comments between records and the five
predefined entities in values. One regular expression checks a block has that shape before
anything is read from it. Anything else (CDATA, a character reference, another element, a
comment holding markup, a category that contradicts the file) raises `NotPlain`, and the file is
read again on the exact per-record path: every error sentence and every oddity is that path's.
"""

from __future__ import annotations

import re

import polars as pl

from rentree.infra.aaf.columns import ATTRIBUTES, CATEGORY_ATTRIBUTES, JOIN
from rentree.infra.naming import FeedName

# what `str.strip` removes (`str.isspace`; a test checks it), spelt out: no work at import
_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
WHITESPACE = _SPACES + "".join(map(chr, range(0x2000, 0x200B)))  # and U+2000 to U+200A
# A block is read once it holds this many bytes (bounded memory, few polars calls).
BLOCK_BYTES = 2 * 1024 * 1024
# libxml2 refuses a text node longer than this without XML_PARSE_HUGE (`parser`).
MAX_VALUE_CHARS = 10_000_000

# One pass of replacements (longest first) turns the markup into a delimited text that polars
# reads as rows of (kind, name, values): \x1e starts a row, \x1d ends a field, \x1f (JOIN)
# ends a value, and every other tag becomes a control character of its own that XML text
# never holds, so that one regular expression checks the shape on the short text.
_MARKS = {
    # the most frequent runs first, as one match each (fewer replacements, same result)
    '</value></attr>\n<attr name="': "\x1f\x08\n\x1eA\x1d",
    '"><value>': "\x1d\x0c",
    "</value></attr>": "\x1f\x08",
    "</value><value>": "\x1f\x0c",
    "<addRequest>": "\x1ea\x1d\x1d",
    "<modifyRequest>": "\x1em\x1d\x1d",
    "<deleteRequest>": "\x1ed\x1d\x1d",
    **dict.fromkeys(("</addRequest>", "</modifyRequest>", "</deleteRequest>"), "\x0e"),
    "<operationalAttributes>": "\x1eC\x1d\x1d",
    "</operationalAttributes>": "\x02",
    "<identifier>": "\x03",
    "</identifier>": "\x04",
    "<id>": "\x1eI\x1d\x1d",
    "</id>": "\x05",
    "<id/>": "\x1eI\x1d\x1d\x05",
    "<attributes>": "\x1eS\x1d\x1d",
    "</attributes>": "\x06",
    "<modifications>": "\x1eM\x1d\x1d",
    "</modifications>": "\x07",
    '<attr name="': "\x1eA\x1d",
    "</attr>": "\x08",
    '<modification name="': "\x1eB\x1d",
    '" operation="replace">': "\x1d",
    '" operation="replace"/>': "\x1d\x0b",
    "</modification>": "\x0b",
    '">': "\x1d",
    '"/>': "\x1d\x08",
    "<value>": "\x0c",
    "</value>": JOIN,
    "<value/>": "\x0c" + JOIN,
}
_W = r"[ \t\n]"
_TEXT = r"(?:[^<>&\x00-\x08\x0b-\x1f]|&(?:amp|lt|gt|quot|apos);)*"
_NAME = r'[^"<>&\x00-\x1f]*'
_VALUES = rf"{_W}*(?:\x0c{_TEXT}\x1f{_W}*)*"
_ATTR = rf"\x1eA\x1d{_NAME}\x1d{_VALUES}\x08"
_MODIFICATION = rf"\x1eB\x1d{_NAME}\x1d{_VALUES}[\x08\x0b]"
_RECORD = (
    r"\x1e[amd]\x1d\x1d"
    rf"{_W}*(?:\x1eC\x1d\x1d{_W}*(?:{_ATTR}{_W}*)*\x02{_W}*)?"
    rf"(?:\x03{_W}*(?:\x1eI\x1d\x1d{_TEXT}\x05{_W}*)*\x04{_W}*)?"
    rf"(?:\x1eS\x1d\x1d{_W}*(?:{_ATTR}{_W}*)*\x06{_W}*)?"
    rf"(?:\x1eM\x1d\x1d{_W}*(?:{_MODIFICATION}{_W}*)*\x07{_W}*)?"
    r"\x0e"
)
# the whole of a marked block: records and whitespace between them
PLAIN_BLOCK = rf"^{_W}*(?:{_RECORD}{_W}*)*$"
_COMMENT = re.compile(rb"<!--(?:[^<>-]|-[^<>-])*-->")
_PROLOG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:<\?xml[^>]*\?>)?(?:[ \t\r\n]|"
    + _COMMENT.pattern
    + rb"|<!DOCTYPE[^\[>]*>)*<ficAlimMENESR>"
)
_EPILOG = re.compile(
    rb"(?:[ \t\r\n]|"
    + _COMMENT.pattern
    + rb")*</ficAlimMENESR>(?:[ \t\r\n]|"
    + _COMMENT.pattern
    + rb")*"
)
_RECORD_ENDS = (b"</addRequest>", b"</modifyRequest>", b"</deleteRequest>")
# what surrounds a value in its field: XML whitespace and the tags' control characters
_EDGES = WHITESPACE + "".join(chr(c) for c in range(0x20) if chr(c) not in WHITESPACE)
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
_JSON_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


class NotPlain(Exception):
    """The file is not in the plain shape: it is read on the exact per-record path."""


class PlainReader:
    """Takes the file's bytes as the parser reads them and builds the columns block by block."""

    def __init__(self, feed: FeedName) -> None:
        self.feed = feed
        self._pending: list[bytes] = []
        self._size = 0
        self._started = False
        self.frames: list[pl.DataFrame] = []
        self.records = 0
        self._line = 1  # the line the bytes not yet read start on

    def take(self, data: bytes) -> None:
        """Bytes as the parser is handed them (UTF-8)."""
        self._pending.append(data)
        self._size += len(data)
        if self._size >= BLOCK_BYTES:
            self._read_block()

    def finish(self) -> pl.DataFrame:
        """The raw columns of every record (`columns.raw_schema`)."""
        self._read_block(final=True)
        if not self.frames:
            raise NotPlain
        return pl.concat(self.frames)

    def _read_block(self, final: bool = False) -> None:
        """Read every complete record taken so far (all of them when `final`)."""
        data = b"".join(self._pending)
        self._pending, self._size = [], 0
        if not self._started:
            prolog = _PROLOG.match(data)
            if prolog is None or _lone_cr(prolog[0]):
                raise NotPlain
            self._line += prolog[0].count(b"\n")
            data = data[prolog.end() :]
            self._started = True
        cut = max(data.rfind(end) + len(end) if end in data else 0 for end in _RECORD_ENDS)
        block, rest = data[:cut], data[cut:]
        if final:
            if _EPILOG.fullmatch(rest) is None:
                raise NotPlain
        elif rest:
            self._pending, self._size = [rest], len(rest)
        if block:
            if b"\r" in block:
                # XML reads CR LF as one line end, as LF
                if _lone_cr(block):
                    raise NotPlain
                block = block.replace(b"\r\n", b"\n")
            frame = _columns(block, self.feed, self.records, self._line)
            self.records += frame.height
            self._line += block.count(b"\n")
            self.frames.append(frame)


def _lone_cr(data: bytes) -> bool:
    """A CR outside a CR LF: libxml2 counts such lines its own way; the exact path reads it."""
    return data.count(b"\r") != data.count(b"\r\n")


def _columns(block: bytes, feed: FeedName, first: int, line: int) -> pl.DataFrame:
    """The raw columns of every record in one plain block that starts on `line`."""
    if b"<!--" in block:
        # a comment is no part of any value; its line ends still count
        block = _COMMENT.sub(lambda m: b"\n" * m[0].count(b"\n"), block)
    try:
        text = pl.Series([block], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.ComputeError:
        raise NotPlain from None
    marked = text.str.replace_many(_MARKS, leftmost=True)
    if not marked.str.contains(PLAIN_BLOCK).item():
        raise NotPlain
    data = marked.cast(pl.Binary).item()
    start = data.find(b"\x1e")
    rows = pl.read_csv(
        # from the first row on: what comes before it is whitespace
        data[start + 1 :],
        has_header=False,
        separator="\x1d",
        eol_char="\x1e",
        quote_char=None,
        schema={"kind": pl.String, "name": pl.String, "field": pl.String},
    )
    is_record = pl.col("kind").is_in(("a", "m", "d"))
    rows = rows.with_columns(
        field=pl.col("field").fill_null(""),
        record=is_record.cum_sum().cast(pl.Int64) - 1,
        part=pl.when(is_record | pl.col("kind").is_in(("C", "S", "M")))
        .then(pl.col("kind"))
        .forward_fill(),
    )
    records = (
        rows.with_columns(
            line=pl.col("field")
            .str.count_matches("\n", literal=True)
            .cum_sum()
            .shift(1, fill_value=0)
            + (line + data.count(b"\n", 0, start))
        )
        .filter(is_record)
        .select(
            "record",
            "line",
            operation=pl.col("kind").replace_strict(_OPERATIONS),
            lead=pl.col("field").str.extract(r"^([ \t\n]*)", 1).fill_null(""),
        )
    )
    # libxml2 keeps a line past 65,534 on the record's first text node, where the
    # whitespace after its start tag ends: the exact path reports that line
    late = pl.col("line") >= _SHORT_LINES
    if records.select((late & (pl.col("lead") == "")).any()).item():
        raise NotPlain
    records = records.with_columns(
        line=pl.when(late)
        .then(pl.col("line") + pl.col("lead").str.count_matches("\n", literal=True))
        .otherwise(pl.col("line"))
    ).drop("lead")
    valued = rows.filter(pl.col("kind").is_in(("A", "B", "I")))
    valued = valued.with_columns(values=_clean(valued["field"], entities=b"&" in block))
    if (valued.select(pl.col("values").str.len_chars().max()).item() or 0) > MAX_VALUE_CHARS:
        raise NotPlain
    external_ids = (
        valued.filter(pl.col("kind") == "I")
        .group_by("record", maintain_order=True)
        .agg(external_id=pl.col("values").last())
    )
    categories = (
        valued.filter((pl.col("part") == "C") & pl.col("name").is_in(CATEGORY_ATTRIBUTES))
        .group_by("record", maintain_order=True)
        .agg(category=pl.col("values").last().str.split_exact(JOIN, 1).struct.field("field_0"))
    )
    frame = records.join(categories, on="record", how="left", maintain_order="left").join(
        external_ids, on="record", how="left", maintain_order="left"
    )
    category = pl.col("category")
    if frame.select((category.is_not_null() & (category != feed.file_type)).any()).item():
        # the exact path names the record and its line
        raise NotPlain
    events = valued.filter(pl.col("part").is_in(("S", "M")) & (pl.col("name") != ""))
    frame = _attribute_columns(frame, events, feed)
    return frame.with_columns(
        file=pl.lit(feed.name),
        position=pl.col("record") + first,
        external_id=pl.when(pl.col("external_id") != "").then(pl.col("external_id")),
    )


_OPERATIONS = {"a": "add", "m": "modify", "d": "delete"}
_SHORT_LINES = 65535
# a run of edge characters holding a value's end: the values on either side stripped
_BETWEEN = (
    "["
    + "".join(f"\\x{{{ord(c):x}}}" for c in _EDGES)
    + "]*\x1f["
    + "".join(f"\\x{{{ord(c):x}}}" for c in _EDGES)
    + "]*"
)


def _clean(field: pl.Series, entities: bool) -> pl.Series:
    """A field's values as the exact path reads them: entities replaced, each value
    stripped, the empty ones dropped, joined by JOIN ("" when none)."""
    values = field.str.strip_chars(_EDGES)
    several = values.str.contains(JOIN, literal=True).arg_true()
    if several.len():
        # only fields of several values have inner edges to strip
        values = values.scatter(several, values.gather(several).str.replace_all(_BETWEEN, JOIN))
    return values.str.replace_many(_ENTITIES, leftmost=True) if entities else values


def _attribute_columns(frame: pl.DataFrame, events: pl.DataFrame, feed: FeedName) -> pl.DataFrame:
    """The values of each record as the exact path's `values` dict leaves them.

    Attributes add to a name; a modification replaces it; a modification of the LDAP
    spelling (`sn`) stands for the 1D one unless the 1D name came first.
    """
    attributes = {a.aaf: a for a in ATTRIBUTES[feed.file_type]}
    fallbacks = {a.fallback: a.aaf for a in attributes.values() if a.fallback}
    modification = pl.col("kind") == "B"
    events = events.with_row_index("seq").with_columns(target=pl.col("name"))
    modified = None
    if events.select(modification.any()).item():
        events = events.with_columns(
            target=pl.when(modification)
            .then(pl.col("name").replace(fallbacks))
            .otherwise(pl.col("name")),
            stands_in=modification & pl.col("name").is_in(list(fallbacks)),
        )
        events = events.with_columns(first=pl.col("seq").min().over("record", "target")).filter(
            ~pl.col("stands_in") | (pl.col("seq") == pl.col("first"))
        )
        modified = (
            events.filter(modification)
            .group_by("record", maintain_order=True)
            .agg(modified=pl.col("target").unique(maintain_order=True).str.join(JOIN))
        )
        last = pl.col("seq").filter(modification).max().over("record", "target")
        events = events.filter(last.is_null() | (pl.col("seq") >= last))
    # a name replaced keeps the place where it first came, as a dict's key does
    place = "seq" if modified is None else "first"
    named = events.select("record", "target", "values", first=place)
    known = [*attributes, *fallbacks]
    try:
        if modified is not None:
            raise pl.exceptions.ComputeError
        wide = _wide(named, known)
    except pl.exceptions.ComputeError:
        # a name given twice in a record (or replaced): its values in the order kept
        named = _gathered(named)
        wide = _wide(named, known)
    if wide.height == frame.height and wide["record"].equals(frame["record"]):
        # every record names an attribute read, in order: no join needed
        frame = frame.hstack(wide.drop("record"))
    else:
        frame = frame.join(wide, on="record", how="left", maintain_order="left")
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(aaf) for aaf in known if aaf not in frame.columns
    )
    unknown = named.filter(~pl.col("target").is_in(known))
    if unknown.height:
        extra = (
            _gathered(unknown)
            .sort("first")
            .with_columns(
                entry=pl.concat_str(
                    pl.lit('"'),
                    _json(pl.col("target")),
                    pl.lit('": ['),
                    pl.when(pl.col("values") != "").then(
                        pl.concat_str(
                            pl.lit('"'),
                            _json(pl.col("values")).str.replace_all(JOIN, '", "', literal=True),
                            pl.lit('"'),
                        )
                    ),
                    pl.lit("]"),
                    ignore_nulls=True,
                )
            )
            .group_by("record", maintain_order=True)
            .agg(extra=pl.concat_str(pl.lit("{"), pl.col("entry").str.join(", "), pl.lit("}")))
        )
        frame = frame.join(extra, on="record", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(extra=pl.lit(None, pl.String))
    if modified is not None:
        frame = frame.join(modified, on="record", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(modified=pl.lit(None, pl.String))
    columns = []
    for aaf, attribute in attributes.items():
        given = pl.when(pl.col(aaf) != "").then(pl.col(aaf))
        found: pl.Expr = given
        if attribute.fallback:
            fallback = pl.col(attribute.fallback)
            found = given.otherwise(pl.when(fallback != "").then(fallback))
        if not attribute.multi:
            found = found.str.split_exact(JOIN, 1).struct.field("field_0")
        columns.append(found.alias(attribute.column))
    return frame.select(
        "record",
        "line",
        "operation",
        "category",
        "external_id",
        "modified",
        pl.col("extra").fill_null("{}"),
        *columns,
    )


def _wide(named: pl.DataFrame, known: list[str]) -> pl.DataFrame:
    """One column per attribute read (ComputeError for a name given twice in a record)."""
    return named.filter(pl.col("target").is_in(known)).pivot(
        on="target", index="record", values="values"
    )


def _gathered(named: pl.DataFrame) -> pl.DataFrame:
    """One row per name of a record, its values joined in the order given."""
    return named.group_by("record", "target", maintain_order=True).agg(
        pl.col("values").filter(pl.col("values") != "").str.join(JOIN),
        pl.col("first").min(),
    )


def _json(text: pl.Expr) -> pl.Expr:
    return text.str.replace_many(_JSON_ESCAPES, leftmost=True)
