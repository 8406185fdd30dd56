"""The hardened AAF reader: shape of the parsed frames, and every hostile file refused
with one sentence (issue 3, "Bad input")."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import polars as pl
import pytest
from aaf_samples import (
    SECRET,
    TEN_MB,
    billion_laughs,
    document,
    external_dtd,
    hostile,
    name,
    record,
    relative,
    school,
    staff,
    student,
    valid_delivery,
    xxe,
)

from rentree.infra.aaf import AafFileError, parsed_schema, read_aaf
from rentree.infra.naming import FEED_TYPES

ELEVE = name("Eleve")


def read(content: bytes, file_name: str = ELEVE) -> pl.DataFrame:
    return read_aaf(io.BytesIO(content), file_name).records


def refused(content: bytes, file_name: str = ELEVE) -> AafFileError:
    with pytest.raises(AafFileError) as caught:
        read(content, file_name)
    sentence = str(caught.value)
    assert sentence.startswith(file_name.rsplit("/", 1)[-1])
    assert sentence.endswith(".") and "\n" not in sentence
    assert caught.value.message_fr.endswith(".")
    return caught.value


def test_every_type_parses_into_its_documented_columns() -> None:
    for file_name, content in valid_delivery().items():
        parsed = read_aaf(io.BytesIO(content), file_name)
        assert dict(parsed.records.schema) == parsed_schema(parsed.feed.file_type)
        assert parsed.records.height >= 2


def test_empty_file_of_records_still_has_every_column() -> None:
    for file_type in FEED_TYPES:
        frame = read(document([]), name(file_type))
        assert frame.height == 0
        assert dict(frame.schema) == parsed_schema(file_type)


def test_multi_part_values_are_split_into_their_columns() -> None:
    frame = read(document([student(relatives=("R1", "R2"))]))
    row = frame.row(0, named=True)
    assert row["class_struct_ids"] == ["S1"]
    assert row["class_codes"] == ["CP-A"]
    assert row["class_labels"] == ["Classe CP-A"]
    assert row["relative_ids"] == ["R1", "R2"]
    staff_row = read(document([staff()]), name("PersEducNat")).row(0, named=True)
    assert staff_row["function_struct_ids"] == ["S1"]
    assert staff_row["function_codes"] == ["ENS"]


def test_unread_attributes_are_kept_as_extra_and_empty_values_are_none() -> None:
    frame = read(document([student(ENTPersonSexe="F", ENTPersonAutresPrenoms=None)]))
    row = frame.row(0, named=True)
    assert row["extra"] == '{"ENTPersonSexe": ["F"], "ENTPersonAutresPrenoms": []}'


def test_modify_and_delete_records_say_what_they_replace() -> None:
    content = document(
        [
            record("Eleve", "E1", {"ENTPersonNom": "Durand"}, operation="modify"),
            record("Eleve", "E2", operation="delete"),
        ]
    )
    frame = read(content)
    assert frame["operation"].to_list() == ["modify", "delete"]
    assert frame["modified"].to_list() == [["ENTPersonNom"], []]
    assert frame["last_name"].to_list() == ["Durand", None]
    assert frame["position"].to_list() == [0, 1]


def test_plain_external_dtd_declaration_is_normal() -> None:
    # the sample files carry <!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">
    assert b'SYSTEM "ficAlimMENESR.dtd"' in document([school()])
    assert read(document([school()]), name("EtabEducNat")).height == 1


@pytest.fixture()
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that would serve an evil DTD, counting every request."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY ext "PWNED">')

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/evil.dtd", hits
    server.shutdown()
    server.server_close()


def test_external_dtd_is_never_fetched(dtd_server: tuple[str, list[str]]) -> None:
    url, hits = dtd_server
    frame = read(external_dtd(url))
    assert frame["last_name"].to_list() == ["Dupont"]
    assert hits == []


def test_external_dtd_entity_is_refused_without_fetching(dtd_server: tuple[str, list[str]]) -> None:
    url, hits = dtd_server
    error = refused(external_dtd(url, with_entity=True))
    assert error.rule == "entity"
    assert "PWNED" not in str(error)
    assert hits == []


def test_not_xml_is_refused() -> None:
    assert refused(hostile("not_xml").files[ELEVE]).rule == "not_xml"


def test_truncated_file_is_refused() -> None:
    error = refused(hostile("truncated").files[ELEVE])
    assert error.rule == "truncated"
    assert "truncated" in str(error)


def test_empty_file_is_refused() -> None:
    assert refused(b"").rule == "empty"
    assert refused(b"  \n").rule == "empty"


def test_billion_laughs_is_refused_before_parsing() -> None:
    error = refused(billion_laughs())
    assert error.rule == "doctype"
    assert "lol" not in str(error)


def test_xxe_to_a_local_file_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    error = refused(xxe(str(secret)))
    assert error.rule == "doctype"
    assert SECRET not in str(error) and SECRET not in error.message_fr


def test_internal_subset_without_entities_in_a_later_position_is_refused() -> None:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ficAlimMENESR [<!ELEMENT x ANY>]>\n'
    assert refused(document([student()], head=head)).rule == "doctype"


def test_iso_8859_1_declared_is_refused() -> None:
    error = refused(hostile("iso_8859_1").files[ELEVE])
    assert error.rule == "encoding"
    assert "ISO-8859-1" in str(error)


def test_iso_8859_1_bytes_declared_utf8_are_refused() -> None:
    error = refused(hostile("latin1_bytes_declared_utf8").files[ELEVE])
    assert error.rule == "encoding"
    assert "line 4" in str(error)


def test_utf16_is_refused() -> None:
    assert refused(hostile("utf16").files[ELEVE]).rule == "encoding"
    no_bom = document([student()]).decode().encode("utf-16-le")
    assert refused(no_bom).rule == "encoding"


def test_utf8_bom_is_accepted() -> None:
    frame = read(b"\xef\xbb\xbf" + document([student()]))
    assert frame["first_name"].to_list() == ["Léa"]


def test_wrong_root_is_refused() -> None:
    error = refused(hostile("wrong_root").files[ELEVE])
    assert error.rule == "root"
    assert "<annuaire>" in str(error)


def test_wrong_root_without_records_is_refused() -> None:
    assert refused(b"<annuaire/>").rule == "root"


def test_unknown_file_type_is_refused() -> None:
    error = refused(document([staff()]), name("Enseignant"))
    assert error.rule == "file_name"
    assert "Enseignant" in str(error)


def test_name_that_does_not_match_is_refused() -> None:
    assert refused(document([staff()]), "eleves.xml").rule == "file_name"


def test_category_mismatching_the_file_type_is_refused() -> None:
    error = refused(document([student(), relative("R9")]))
    assert error.rule == "category"
    assert "R9" in str(error) and "line" in str(error)


def test_ten_mb_value_is_read_whole_for_the_contract_to_reject() -> None:
    frame = read(document([student(last="D" * TEN_MB)]))
    assert frame["last_name"].str.len_chars().to_list() == [TEN_MB]


def test_value_over_the_parser_limit_is_a_file_error() -> None:
    error = refused(hostile("value_over_parser_limit").files[ELEVE])
    assert error.rule == "value_too_large"


def test_nested_markup_in_a_value_is_refused() -> None:
    content = document([student(last="Dupont")]).replace(b"Dupont", b"Du<b>p</b>ont", 1)
    assert refused(content).rule == "not_aaf"


def test_reading_from_a_path_streams_the_file(tmp_path: Path) -> None:
    path = tmp_path / ELEVE
    path.write_bytes(document([student(f"E{i}", ine=f"{i:010d}A") for i in range(300)]))
    parsed = read_aaf(path, ELEVE)
    assert parsed.records.height == 300
    assert parsed.records["external_id"][-1] == "E299"
