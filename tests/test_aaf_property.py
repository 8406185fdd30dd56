"""Property: the reader gives back any text value as written, whatever it holds."""

from __future__ import annotations

import io

from aaf_samples import document, name, relative
from hypothesis import given, settings
from hypothesis import strategies as st

from rentree.infra.aaf import read_aaf

# characters XML 1.0 allows in text (carriage returns are normalised by XML itself)
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\r")
    | st.sampled_from("\t\n"),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(last=xml_text, city=xml_text, extra=xml_text)
def test_reader_round_trips_any_escaped_text_value(last: str, city: str, extra: str) -> None:
    content = document([relative(last=last, ENTPersonVille=city, ENTPersonJointure=extra)])
    row = read_aaf(io.BytesIO(content), name("PersRelEleve")).records.row(0, named=True)
    assert row["last_name"] == (last.strip() or None)
    assert row["city"] == (city.strip() or None)
    assert (extra.strip() != "") == (
        "ENTPersonJointure" in row["extra"] and row["extra"] != '{"ENTPersonJointure": []}'
    )
