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
    DECLARATION,
    DOCTYPE,
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


@pytest.mark.parametrize(
    ("case", "rule", "said"),
    [
        pytest.param("truncated", "truncated", "truncated", id="truncated"),
        pytest.param("wrong_root", "root", "<annuaire>", id="wrong_root"),
    ],
)
def test_truncated_file_or_wrong_root_is_refused_saying_why(
    case: str, rule: str, said: str
) -> None:
    error = refused(hostile(case).files[ELEVE])
    assert error.rule == rule
    assert said in str(error)


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


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "ISO-8859-15", "windows-1252"])
def test_declared_single_byte_encodings_are_honoured(encoding: str) -> None:
    text = document([student(last="Lefèvre-Œuvray" if encoding != "ISO-8859-1" else "Lefèvre")])
    declared = text.decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    frame = read(declared.encode(encoding))
    assert frame["last_name"].to_list() == [
        "Lefèvre-Œuvray" if encoding != "ISO-8859-1" else "Lefèvre"
    ]


def test_no_declaration_means_utf8_with_character_references() -> None:
    content = document([student(last="Lef&#232;vre")], head=DOCTYPE + "\n")
    assert read(content.replace(b"&amp;#232;", b"&#232;"))["last_name"].to_list() == ["Lefèvre"]


def test_bytes_that_do_not_decode_under_the_declared_encoding_are_refused_with_their_line() -> None:
    error = refused(hostile("undecodable_windows_1252").files[ELEVE])
    assert error.rule == "encoding"
    assert error.line == 4 and "line 4" in str(error) and "CP1252" in str(error)


def test_an_undeclared_encoding_is_refused() -> None:
    content = document([student()]).replace(b'encoding="UTF-8"', b'encoding="EBCDIC-FR"')
    error = refused(content)
    assert error.rule == "encoding" and "EBCDIC-FR" in str(error)


@pytest.mark.parametrize("head", [DECLARATION + "\n", DECLARATION + "\n" + DOCTYPE + "\n"])
def test_an_undefined_entity_is_reported_with_lxmls_reason_and_its_line(head: str) -> None:
    content = document([relative(last="Ren&eacute;")], head=head)
    error = refused(content.replace(b"&amp;eacute;", b"&eacute;"), name("PersRelEleve"))
    assert error.rule == "entity"
    assert "Entity 'eacute' not defined" in str(error)
    line = head.count("\n") + 2  # the root, then the record
    assert error.line == line and f"line {line}" in str(error)


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


def test_wrong_root_without_records_is_refused() -> None:
    assert refused(b"<annuaire/>").rule == "root"


def test_unknown_file_type_is_refused_by_the_reader() -> None:
    # the reader reads the four types; which other types are set aside is the delivery's call
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


def test_structure_records_may_name_their_category_categorieStructure() -> None:
    content = document([school()]).replace(b"categoriePersonne", b"categorieStructure")
    frame = read(content, name("EtabEducNat"))
    assert frame["category"].to_list() == ["EtabEducNat"]


def test_ldap_names_are_read_when_the_1d_names_are_absent_and_the_1d_name_wins() -> None:
    ldap = record(
        "PersEducNat",
        "P7",
        {"sn": "Durand", "givenName": "Anne", "mail": "anne.durand@ac-lille.fr"},
    )
    both = staff("P8", last="Martin", first="Claire", sn="Autre", givenName="Nom")
    frame = read(document([ldap, both]), name("PersEducNat"))
    assert frame["last_name"].to_list() == ["Durand", "Martin"]
    assert frame["first_name"].to_list() == ["Anne", "Claire"]
    assert frame["email"].to_list()[0] == "anne.durand@ac-lille.fr"
    assert "sn" not in frame["extra"][1]


def test_a_replaced_sn_replaces_the_name() -> None:
    modify = record("PersEducNat", "P7", {"sn": "Durand"}, operation="modify")
    frame = read(document([modify]), name("PersEducNat"))
    assert frame["last_name"].to_list() == ["Durand"]
    assert frame["modified"].to_list() == [["ENTPersonNom"]]


def test_header_comments_are_read() -> None:
    head = DECLARATION + "\n" + DOCTYPE + "\n"
    comments = (
        '<!-- codeAcademieExport="09" -->\n<!-- degre="1D" -->\n<!-- versionAF="AAF-VE2407" -->\n'
    )
    content = document([school()], head=head).replace(
        b"<ficAlimMENESR>\n", b"<ficAlimMENESR>\n" + comments.encode()
    )
    parsed = read_aaf(io.BytesIO(content), name("EtabEducNat"))
    assert parsed.header is not None
    assert (parsed.header.academy, parsed.header.degree, parsed.header.version) == (
        "09",
        "1D",
        "AAF-VE2407",
    )
    assert parsed.records.height == 1


def test_a_second_degree_file_is_refused_with_one_sentence() -> None:
    content = document([school()]).replace(
        b"<ficAlimMENESR>\n", b'<ficAlimMENESR>\n<!-- degre="2D" -->\n'
    )
    error = refused(content, name("EtabEducNat"))
    assert error.rule == "second_degree"
    assert "these are secondary-school files; rentree takes the 1D export" in str(error)


def test_relatives_name_their_pupils() -> None:
    content = document([relative(ENTPersRelEleveEleve=["E1", "E2"])])
    frame = read(content, name("PersRelEleve"))
    assert frame["student_ids"].to_list() == [["E1", "E2"]]
