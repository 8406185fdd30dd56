"""The plain path of the AAF reader gives the exact path's frame, or leaves the file to it.

Random AAF files of every type (multi values, empty values, `<value/>`, modifications,
unknown attributes, odd whitespace, CR LF, non-ASCII, ISO-8859-15, comments, and now and
then markup the plain path does not read) are read both ways: the frames are identical,
and a file the exact path refuses is refused with the same sentence.
"""

from __future__ import annotations

import io
import sys
from xml.sax.saxutils import escape, quoteattr

import polars as pl
import pytest
from aaf_samples import DOCTYPE, document, name, relative, student, valid_delivery
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rentree.infra.aaf import ATTRIBUTES, AafFileError, parser, read_aaf
from rentree.infra.aaf import plain as plain_module
from rentree.infra.aaf.columns import to_frame
from rentree.infra.aaf.errors import feed_name_of
from rentree.infra.aaf.head import HEAD_BYTES, Replay, check_head
from rentree.infra.aaf.parser import _parse, _parse_plain
from rentree.infra.aaf.plain import NotPlain
from rentree.infra.naming import FEED_TYPES


def exact(content: bytes, file_name: str) -> pl.DataFrame:
    """The reference: the per-record path alone."""
    feed = feed_name_of(file_name)
    head = content[:HEAD_BYTES]
    replay = Replay(head, io.BytesIO(content[len(head) :]), check_head(feed.name, head))
    return to_frame(_parse(replay, feed), feed.file_type)


def plain(content: bytes, file_name: str) -> pl.DataFrame:
    feed = feed_name_of(file_name)
    head = content[:HEAD_BYTES]
    replay = Replay(head, io.BytesIO(content[len(head) :]), check_head(feed.name, head))
    return _parse_plain(replay, feed)


# value text: what the generator, real deliveries and odd files hold
_CHARS = st.sampled_from(
    [*list("aZé9 -'$.@ÀÿŒœ€"), "\t", "\n", "  ", "\xa0", "\u2028", "\u3000", "&", "<", ">", '"']
)
_TEXT = st.lists(_CHARS, max_size=8).map("".join)
_PLAIN_VALUE = st.one_of(
    _TEXT.map(lambda t: f"<value>{escape(t)}</value>"),
    st.just("<value/>"),
    st.just("<value></value>"),
)
# now and then, what only the exact path reads: a character reference, CDATA
_VALUE = st.one_of(
    _PLAIN_VALUE,
    _PLAIN_VALUE,
    _PLAIN_VALUE,
    _PLAIN_VALUE,
    _PLAIN_VALUE,
    _PLAIN_VALUE,
    _TEXT.map(lambda t: f"<value>{escape(t, {'é': '&#233;'})}</value>"),
    st.just("<value><![CDATA[x]]></value>"),
)
_SPACE = st.sampled_from(["", "", "\n", "\r\n", "  ", "\n\t"])


@st.composite
def _attribute_name(draw: st.DrawFn, file_type: str) -> str:
    known = [a.aaf for a in ATTRIBUTES[file_type]] + [
        a.fallback for a in ATTRIBUTES[file_type] if a.fallback
    ]
    return draw(
        st.one_of(
            st.sampled_from(known),
            st.sampled_from(["ENTPersonJointure", "sn", "mail", "givenName", "x y", "é"]),
            st.just(""),
        )
    )


@st.composite
def _element(draw: st.DrawFn, tag: str, file_type: str) -> str:
    attribute = draw(_attribute_name(file_type))
    values = draw(st.lists(_VALUE, max_size=2))
    gap = draw(_SPACE)
    operation = ' operation="replace"' if tag == "modification" else ""
    if not values and draw(st.booleans()):
        return f"<{tag} name={quoteattr(attribute)}{operation}/>"
    return f"<{tag} name={quoteattr(attribute)}{operation}>{gap}{gap.join(values)}</{tag}>"


@st.composite
def _record(draw: st.DrawFn, file_type: str) -> str:
    operation = draw(
        st.sampled_from(["addRequest", "addRequest", "modifyRequest", "deleteRequest"])
    )
    gap = draw(_SPACE)
    parts = []
    category = draw(st.sampled_from([file_type] * 12 + [None, "Eleve"]))
    if category is not None:
        parts.append(
            '<operationalAttributes><attr name="categoriePersonne">'
            f"<value>{category}</value></attr></operationalAttributes>"
        )
    identifier = draw(st.one_of(_TEXT, st.none()))
    parts.append(
        "<identifier><id/></identifier>"
        if identifier is None
        else f"<identifier><id>{escape(identifier)}</id></identifier>"
    )
    if operation != "deleteRequest":
        attrs = draw(st.lists(_element("attr", file_type), max_size=6))
        parts.append(f"<attributes>{gap}{gap.join(attrs)}{gap}</attributes>")
    if operation == "modifyRequest":
        changes = draw(st.lists(_element("modification", file_type), max_size=4))
        parts.append(f"<modifications>{gap}{gap.join(changes)}</modifications>")
    return f"<{operation}>{gap}{gap.join(parts)}{gap}</{operation}>"


@st.composite
def _file(draw: st.DrawFn) -> tuple[bytes, str]:
    file_type = draw(st.sampled_from(FEED_TYPES))
    records = draw(st.lists(_record(file_type), max_size=8))
    between = draw(st.sampled_from(["\n", "\r\n", "", '\n<!-- versionAF="AAF-VE2407" -->\n']))
    encoding = draw(st.sampled_from(["UTF-8", "ISO-8859-15"]))
    body = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{DOCTYPE}\n<ficAlimMENESR>{between}'
        + between.join(records)
        + f"{between}</ficAlimMENESR>\n"
    )
    if encoding == "UTF-8":
        return body.encode("utf-8"), name(file_type)
    return body.encode("iso-8859-15", "xmlcharrefreplace"), name(file_type)


def _outcome(read: object, content: bytes, file_name: str) -> pl.DataFrame | str:
    try:
        return read(content, file_name)  # type: ignore[operator, no-any-return]
    except AafFileError as exc:
        return str(exc)


def _assert_same(read: pl.DataFrame | str, reference: pl.DataFrame | str) -> None:
    """The same frame, or the same error sentence, as the per-record reference path."""
    if isinstance(reference, str):
        assert read == reference
    else:
        assert isinstance(read, pl.DataFrame)
        assert_frame_equal(read, reference)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_file())
# a name modified twice, after another unknown one: it keeps its first place in `extra`
@example(
    (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ficAlimMENESR>\n<modifyRequest>'
        b"<identifier><id>E1</id></identifier><attributes></attributes><modifications>"
        b'<modification name="ENTPersonJointure" operation="replace"></modification>'
        b'<modification name="sn" operation="replace"></modification>'
        b'<modification name="ENTPersonJointure" operation="replace"></modification>'
        b"</modifications></modifyRequest>\n</ficAlimMENESR>\n",
        "ENT_Complet_20240902_EtabEducNat_0000.xml",
    )
)
def test_both_paths_give_the_same_frame_or_the_same_sentence(file: tuple[bytes, str]) -> None:
    content, file_name = file
    reference = _outcome(exact, content, file_name)
    read = _outcome(lambda c, n: read_aaf(io.BytesIO(c), n).records, content, file_name)
    _assert_same(read, reference)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_file(), st.integers(min_value=1, max_value=400))
def test_blocks_of_any_size_give_the_same_frame(file: tuple[bytes, str], size: int) -> None:
    """The parser fed a few bytes at a time, the plain reader cutting blocks anywhere."""
    content, file_name = file
    reference = _outcome(exact, content, file_name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parser, "FEED_BYTES", size)
        patch.setattr(plain_module, "BLOCK_BYTES", size * 3)
        read = _outcome(lambda c, n: read_aaf(io.BytesIO(c), n).records, content, file_name)
    _assert_same(read, reference)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, st.lists(_TEXT, max_size=3)), min_size=1, max_size=6))
def test_plain_files_are_read_on_the_plain_path(people: list[tuple[str, str, list[str]]]) -> None:
    """What deliveries hold (escaped text, several values, empty ones) never needs the exact
    path: the plain path reads it and gives the same frame."""
    content = document(
        [
            relative(f"R{i}", last=last, ENTPersonVille=city, ENTPersRelEleveEleve=pupils)
            for i, (last, city, pupils) in enumerate(people)
        ]
    )
    assert_frame_equal(plain(content, name("PersRelEleve")), exact(content, name("PersRelEleve")))


def test_a_valid_delivery_is_read_on_the_plain_path() -> None:
    for file_name, content in valid_delivery().items():
        assert_frame_equal(plain(content, file_name), exact(content, file_name))


def test_lines_past_65535_are_the_exact_paths() -> None:
    """libxml2 keeps such a line on the record's first text node: the plain path agrees,
    and leaves a record without one to the exact path."""
    records = [student(f"E{i}", relatives=("R1", "R2")) for i in range(7000)]
    content = document(records).replace(b"</attr>", b"</attr>\n")
    spaced = content.replace(b"<addRequest>", b"<addRequest>\n\n")
    frame = plain(spaced, name("Eleve"))
    assert frame["line"].max() > 65535
    assert_frame_equal(frame, exact(spaced, name("Eleve")))
    with pytest.raises(NotPlain):
        plain(content, name("Eleve"))


@pytest.mark.parametrize(
    "odd",
    [
        b"<value>a<b/></value>",
        b"<value>&#233;</value>",
        b"<value><![CDATA[x]]></value>",
        b"<value>a > b</value>",
    ],
)
def test_what_the_plain_path_does_not_read_is_left_to_the_exact_path(odd: bytes) -> None:
    content = document([relative()]).replace(b"<value>Dupont</value>", odd)
    with pytest.raises(NotPlain):
        plain(content, name("PersRelEleve"))
    reference = _outcome(exact, content, name("PersRelEleve"))
    read = _outcome(lambda c, n: read_aaf(io.BytesIO(c), n).records, content, name("PersRelEleve"))
    if isinstance(reference, str):
        assert read == reference
    else:
        assert_frame_equal(read, reference)  # type: ignore[arg-type]


def test_values_are_stripped_of_what_python_strips() -> None:
    assert set(plain_module.WHITESPACE) == {
        chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()
    }
