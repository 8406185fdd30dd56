"""Small hand-written AAF files for the feed tests (the generator is not needed for them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

Values = str | Sequence[str] | None

DOCTYPE = '<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">'
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _values(values: Values) -> str:
    if values is None:
        return "<value/>"
    items = [values] if isinstance(values, str) else list(values)
    return "".join(f"<value>{escape(v)}</value>" for v in items) or "<value/>"


def record(
    category: str | None,
    external_id: str | None,
    attributes: Mapping[str, Values] | None = None,
    operation: str = "add",
) -> str:
    """One addRequest, modifyRequest (attributes are the replacements) or deleteRequest."""
    parts = []
    if category is not None:
        parts.append(
            '<operationalAttributes><attr name="categoriePersonne">'
            f"{_values(category)}</attr></operationalAttributes>"
        )
    if external_id is not None:
        parts.append(f"<identifier><id>{escape(external_id)}</id></identifier>")
    else:
        parts.append("<identifier><id/></identifier>")
    attributes = attributes or {}
    if operation == "add":
        parts.append(
            "<attributes>"
            + "".join(
                f"<attr name={quoteattr(k)}>{_values(v)}</attr>" for k, v in attributes.items()
            )
            + "</attributes>"
        )
        tag = "addRequest"
    elif operation == "modify":
        parts.append(
            "<modifications>"
            + "".join(
                f'<modification name={quoteattr(k)} operation="replace">{_values(v)}</modification>'
                for k, v in attributes.items()
            )
            + "</modifications>"
        )
        tag = "modifyRequest"
    else:
        tag = "deleteRequest"
    return f"<{tag}>{''.join(parts)}</{tag}>\n"


def document(
    records: Iterable[str],
    *,
    root: str = "ficAlimMENESR",
    head: str = DECLARATION + "\n" + DOCTYPE + "\n",
) -> bytes:
    return (head + f"<{root}>\n" + "".join(records) + f"</{root}>\n").encode("utf-8")


# -- records of each type -------------------------------------------------------------------


def _names(last: str, first: str) -> dict[str, Values]:
    return {"ENTPersonNom": last, "ENTPersonPrenom": first}


def school(
    external_id: str = "S1",
    uai: str = "0590001A",
    name: str = "École Jules Ferry",
    kind: str = "ECOLE PRIMAIRE",
    **more: Values,
) -> str:
    attributes: dict[str, Values] = {
        "ENTStructureUAI": uai,
        "ENTStructureNomCourant": name,
        "ENTStructureTypeStruct": kind,
        "ENTStructureCodePostal": "59000",
        "ENTEcoleCommune": "Lille",
    }
    return record("EtabEducNat", external_id, {**attributes, **more})


def staff(
    external_id: str = "P1",
    last: str = "Martin",
    first: str = "Claire",
    structs: Sequence[str] = ("S1",),
    **more: Values,
) -> str:
    attributes: dict[str, Values] = {
        **_names(last, first),
        "ENTPersonDateNaissance": "12/03/1980",
        "ENTPersonMail": f"{first.lower()}.{last.lower()}@ac-lille.fr",
        "ENTPersonStructRattach": list(structs),
        "ENTPersonFonctions": [f"{s}$ENS$ENSEIGNEMENT$$" for s in structs],
    }
    return record("PersEducNat", external_id, {**attributes, **more})


def student(
    external_id: str = "E1",
    ine: str = "1234567890A",
    last: str = "Dupont",
    first: str = "Léa",
    struct: str = "S1",
    class_code: str = "CP-A",
    level: str = "CP",
    birth: str = "15/04/2018",
    relatives: Sequence[str] = ("R1",),
    **more: Values,
) -> str:
    attributes: dict[str, Values] = {
        "ENTEleveINE": ine,
        **_names(last, first),
        "ENTPersonDateNaissance": birth,
        "ENTPersonStructRattach": struct,
        "ENTPersonClasses": f"{struct}$x$y${class_code}$Classe {class_code}",
        "ENTEleveNiveau": level,
        "ENTEleveAutoriteParentale": [f"{r}$1" for r in relatives],
    }
    return record("Eleve", external_id, {**attributes, **more})


def relative(
    external_id: str = "R1", last: str = "Dupont", first: str = "Marc", **more: Values
) -> str:
    attributes: dict[str, Values] = {
        **_names(last, first),
        "ENTPersonMail": "marc.dupont@example.org",
        "ENTPersRelEleveTelMobile": "+33 6 12 34 56 78",
        "ENTPersonCodePostal": "59000",
        "ENTPersonVille": "Lille",
    }
    return record("PersRelEleve", external_id, {**attributes, **more})


def name(file_type: str, date: str = "20240902", chunk: int = 0, mode: str = "Complet") -> str:
    return f"ENT_{mode}_{date}_{file_type}_{chunk:04d}.xml"


def write(folder: Path, file_name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    path.write_bytes(content)
    return path


def valid_delivery(date: str = "20240902") -> dict[str, bytes]:
    """A small consistent delivery: two schools, a teacher, three pupils, two relatives."""
    return {
        name("EtabEducNat", date): document(
            [school(), school("S2", "0590002B", "École Pasteur", "ECOLE MATERNELLE")]
        ),
        name("PersEducNat", date): document(
            [staff(), staff("P2", "Bernard", "Luc", ("S2",), ENTEnsFonctionDir="S2")]
        ),
        name("Eleve", date): document(
            [
                student(),
                student("E2", "1234567890B", "Dupont", "Tom", relatives=("R1", "R2")),
                student(
                    "E3",
                    "1234567890C",
                    "N'Diaye-Lefèvre",
                    "Aïcha",
                    struct="S2",
                    class_code="GS-1",
                    level="GS",
                    birth="02/05/2019",
                    relatives=("R2",),
                ),
            ]
        ),
        name("PersRelEleve", date): document([relative(), relative("R2", "N'Diaye", "Awa")]),
    }


def write_delivery(folder: Path, files: Mapping[str, bytes]) -> list[Path]:
    return [write(folder, n, content) for n, content in files.items()]


# -- hostile inputs (issue 3, "Bad input") --------------------------------------------------

SECRET = "TOP-SECRET-7f3a9c"
TEN_MB = 10_000_000  # libxml2's largest text node without XML_PARSE_HUGE, which stays off


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    ]
    head = f"{DECLARATION}\n<!DOCTYPE ficAlimMENESR [{''.join(entities)}]>\n"
    return document([student(last="&lol9;")], head=head).replace(b"&amp;lol9;", b"&lol9;")


def xxe(secret_path: str) -> bytes:
    head = (
        f'{DECLARATION}\n<!DOCTYPE ficAlimMENESR [<!ENTITY xxe SYSTEM "file://{secret_path}">]>\n'
    )
    return document([student(last="&xxe;")], head=head).replace(b"&amp;xxe;", b"&xxe;")


def external_dtd(url: str, with_entity: bool = False) -> bytes:
    head = f'{DECLARATION}\n<!DOCTYPE ficAlimMENESR SYSTEM "{url}">\n'
    content = document([student(last="&ext;" if with_entity else "Dupont")], head=head)
    return content.replace(b"&amp;ext;", b"&ext;")


@dataclass(frozen=True)
class Hostile:
    """A bad delivery: the files, the report rule expected, and the outcome (file errors
    and too many invalid records quarantine; a warning keeps the delivery)."""

    files: dict[str, bytes]
    rule: str
    quarantined: bool = True


def hostile(case: str, secret_path: str = "/nonexistent") -> Hostile:
    files = valid_delivery()
    eleve = name("Eleve")

    def with_eleve(content: bytes, rule: str, quarantined: bool = True) -> Hostile:
        files[eleve] = content
        return Hostile(files, rule, quarantined)

    good = files[eleve]
    match case:
        case "not_xml":
            return with_eleve(b"Nom;Prenom\nDupont;Lea\n", "not_xml")
        case "truncated":
            return with_eleve(good[: len(good) * 2 // 3], "truncated")
        case "empty":
            return with_eleve(b"", "empty")
        case "billion_laughs":
            return with_eleve(billion_laughs(), "doctype")
        case "xxe_local_file":
            return with_eleve(xxe(secret_path), "doctype")
        case "external_dtd_entity":
            return with_eleve(external_dtd("http://127.0.0.1:9/evil.dtd", True), "entity")
        case "undecodable_windows_1252":
            # 0x81 has no character in windows-1252: the bytes do not decode as declared
            declared = good.replace(b'encoding="UTF-8"', b'encoding="windows-1252"')
            return with_eleve(declared.replace("Léa".encode(), b"L\x81a"), "encoding")
        case "latin1_bytes_declared_utf8":
            return with_eleve(good.decode("utf-8").encode("latin-1"), "encoding")
        case "utf16":
            utf16 = good.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
            return with_eleve(utf16.encode("utf-16"), "encoding")
        case "wrong_root":
            return with_eleve(document([student()], root="annuaire"), "root")
        case "unknown_file_type":
            # a name of the AAF shape whose content is not an AAF file: not a file set aside
            files[name("Enseignant")] = b"Nom;Prenom\nMartin;Claire\n"
            return Hostile(files, "file_name")
        case "mismatched_file_type":
            return with_eleve(document([student(), relative("R9")]), "category")
        case "record_without_id":
            return with_eleve(document([student(), student(None, ine="1234567890B")]), "required")
        case "same_id_twice":
            return with_eleve(
                document([student(), student("E1", ine="1234567890B")]), "duplicate_id"
            )
        case "bad_uai":
            files[name("EtabEducNat")] = document([school(), school("S2", uai="059002B")])
            return Hostile(files, "uai_format")
        case "bad_ine":
            return with_eleve(document([student(ine="123")]), "ine_format")
        case "bad_date":
            return with_eleve(document([student(birth="31/02/2018")]), "real_date")
        case "bad_level":
            return with_eleve(document([student(level="6EME")]), "level")
        case "bad_email":
            files[name("PersRelEleve")] = document(
                [relative(ENTPersonMail="marc.dupont.example.org"), relative("R2")]
            )
            return Hostile(files, "email", quarantined=False)
        case "class_of_another_school":
            other = student(ENTPersonClasses="S2$x$y$GS-1$Classe GS-1")
            return with_eleve(document([other]), "class_of_another_school")
        case "ten_mb_value":
            return with_eleve(document([student(last="D" * TEN_MB)]), "too_long")
        case "value_over_parser_limit":
            return with_eleve(document([student(last="D" * (10 * 1024 * 1024))]), "value_too_large")
        case "formula_name":
            return with_eleve(
                document([student(last='=HYPERLINK("http://evil")', ine="bad")]), "ine_format"
            )
    raise ValueError(case)


HOSTILE_CASES = (
    "not_xml",
    "truncated",
    "empty",
    "billion_laughs",
    "xxe_local_file",
    "external_dtd_entity",
    "undecodable_windows_1252",
    "latin1_bytes_declared_utf8",
    "utf16",
    "wrong_root",
    "unknown_file_type",
    "mismatched_file_type",
    "record_without_id",
    "same_id_twice",
    "bad_uai",
    "bad_ine",
    "bad_date",
    "bad_level",
    "bad_email",
    "class_of_another_school",
    "ten_mb_value",
    "value_over_parser_limit",
    "formula_name",
)
