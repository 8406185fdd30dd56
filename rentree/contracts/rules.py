"""What each rule of feeds.md says to a person reading a report, in English and French.

`{attribute}` in a sentence is replaced by the AAF attribute the problem is about.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

Severity = Literal["file", "record", "warning"]

# rule -> (English sentence, French sentence)
RULE_TEXTS: dict[str, tuple[str, str]] = {
    "required": (
        "{attribute} is required and has no value.",
        "{attribute} est obligatoire et n'a pas de valeur.",
    ),
    "too_long": (
        "{attribute} is longer than the directory can hold.",
        "{attribute} est plus long que ce que l'annuaire peut contenir.",
    ),
    "uai_format": (
        "{attribute} is not a UAI (7 digits then a capital letter).",
        "{attribute} n'est pas un UAI (7 chiffres puis une lettre majuscule).",
    ),
    "ine_format": (
        "{attribute} is not an INE (10 digits or capital letters, then a capital letter).",
        "{attribute} n'est pas un INE (10 chiffres ou majuscules, puis une lettre majuscule).",
    ),
    "real_date": (
        "{attribute} is not a real date written dd/mm/yyyy.",
        "{attribute} n'est pas une date réelle écrite jj/mm/aaaa.",
    ),
    "age_2_to_14": (
        "The pupil is not between 2 and 14 years old on the first of September of the school year.",
        "L'élève n'a pas entre 2 et 14 ans au premier septembre de l'année scolaire.",
    ),
    "level": (
        "{attribute} is not one of TPS, PS, MS, GS, CP, CE1, CE2, CM1, CM2.",
        "{attribute} n'est pas l'un de TPS, PS, MS, GS, CP, CE1, CE2, CM1, CM2.",
    ),
    "email": (
        "{attribute} is not an e-mail address.",
        "{attribute} n'est pas une adresse électronique.",
    ),
    "phone": (
        "{attribute} is not a phone number (digits, with +, spaces, dots or dashes).",
        "{attribute} n'est pas un numéro de téléphone "
        "(chiffres, avec +, espaces, points ou tirets).",
    ),
    "postcode": (
        "{attribute} is not a 5-digit postcode.",
        "{attribute} n'est pas un code postal à 5 chiffres.",
    ),
    "teacher_category": (
        "{attribute} is not O, N, true or false; the profile comes from the functions.",
        "{attribute} n'est pas O, N, true ou false ; le profil vient des fonctions.",
    ),
    "function_format": (
        "A value of {attribute} is not STRUCTID$CODE$LABEL$DISCIPLINE_CODE$DISCIPLINE_LABEL.",
        "Une valeur de {attribute} n'est pas "
        "STRUCTID$CODE$LIBELLE$CODE_DISCIPLINE$LIBELLE_DISCIPLINE.",
    ),
    "exactly_one": (
        "A pupil must have exactly one {attribute}.",
        "Un élève doit avoir exactement un {attribute}.",
    ),
    "class_format": (
        "A value of {attribute} is not STRUCTID$x$y$CLASS_CODE$CLASS_LABEL.",
        "Une valeur de {attribute} n'est pas STRUCTID$x$y$CODE_CLASSE$LIBELLE_CLASSE.",
    ),
    "class_of_another_school": (
        "{attribute} names a class of another structure than the pupil's.",
        "{attribute} désigne une classe d'une autre structure que celle de l'élève.",
    ),
    "other_class_of_another_school": (
        "A further value of {attribute} names a class of another structure than the "
        "pupil's; the pupil's own classes are kept.",
        "Une autre valeur de {attribute} désigne une classe d'une autre structure que celle "
        "de l'élève ; les classes de l'élève sont gardées.",
    ),
    "unknown_structure": (
        "{attribute} names a structure that is neither in the delivery nor in the directory.",
        "{attribute} désigne une structure absente de la livraison et de l'annuaire.",
    ),
    "no_structure": (
        "Neither {attribute} nor ENTPersonFonctions names a structure; the person is kept, "
        "attached to no school.",
        "Ni {attribute} ni ENTPersonFonctions ne désigne de structure ; la personne est "
        "gardée, rattachée à aucune école.",
    ),
    "unknown_structure_link": (
        "{attribute} names a structure that is neither in the delivery nor in the directory; "
        "that link is skipped.",
        "{attribute} désigne une structure absente de la livraison et de l'annuaire ; "
        "ce lien est ignoré.",
    ),
    "duplicate_id": (
        "The same {attribute} appears more than once in this type; every occurrence is rejected.",
        "Le même {attribute} apparaît plusieurs fois pour ce type ; chaque occurrence est rejetée.",
    ),
    "duplicate_uai": (
        "The same {attribute} is given to several structures; every occurrence is rejected.",
        "Le même {attribute} est donné à plusieurs structures ; chaque occurrence est rejetée.",
    ),
    "duplicate_ine": (
        "The same {attribute} is given to several pupils; every occurrence is rejected.",
        "Le même {attribute} est donné à plusieurs élèves ; chaque occurrence est rejetée.",
    ),
    "class_label_conflict": (
        "This class code has another label elsewhere in the structure; "
        "the most frequent label is kept.",
        "Ce code de classe a un autre libellé ailleurs dans la structure ; "
        "le libellé le plus fréquent est retenu.",
    ),
    "unknown_relative": (
        "{attribute} names a relative who is neither in the delivery nor in the directory; "
        "the link is skipped.",
        "{attribute} désigne un responsable absent de la livraison et de l'annuaire ; "
        "le lien est ignoré.",
    ),
    # identity continuity (R1), decided against the directory when the delivery is planned
    "id_of_another_account": (
        "{attribute} is already the id of another account (another profile, or an account made "
        "by hand); the record cannot be matched without merging two people.",
        "{attribute} est déjà l'identifiant d'un autre compte (autre profil, ou compte créé à la "
        "main) ; l'enregistrement ne peut être rapproché sans fusionner deux personnes.",
    ),
    "ine_of_another_account": (
        "{attribute} is the INE of another pupil's account in the directory; the record is "
        "not applied, so that no two accounts share an INE.",
        "{attribute} est l'INE du compte d'un autre élève dans l'annuaire ; l'enregistrement "
        "n'est pas appliqué, pour que deux comptes n'aient jamais le même INE.",
    ),
    "ine_moved": (
        "{attribute} moved between two ids of this delivery (a new id carries the INE of an "
        "account whose own id is also delivered); both records are refused.",
        "{attribute} est passé d'un identifiant à un autre dans cette livraison (un nouvel "
        "identifiant porte l'INE d'un compte dont l'identifiant est aussi livré) ; les deux "
        "enregistrements sont refusés.",
    ),
    "same_account_twice": (
        "Two records of this delivery are the same account ({attribute}: its own id and an id "
        "linked to it); both are refused.",
        "Deux enregistrements de cette livraison désignent le même compte ({attribute} : son "
        "identifiant et un identifiant qui lui est lié) ; les deux sont refusés.",
    ),
    "too_many_invalid_records": (
        "Too many records of this file are invalid; the whole delivery is rejected.",
        "Trop d'enregistrements de ce fichier sont invalides ; toute la livraison est rejetée.",
    ),
}

# What happens after the sentence, by severity.
CONSEQUENCE: dict[Severity, tuple[str, str]] = {
    "file": ("The whole delivery is rejected.", "Toute la livraison est rejetée."),
    "record": ("The record is rejected.", "L'enregistrement est rejeté."),
    "warning": ("The value is dropped.", "La valeur est ignorée."),
}


def rule_texts() -> pl.DataFrame:
    """The sentences as a frame, to join onto problem rows."""
    return pl.DataFrame(
        {
            "rule": list(RULE_TEXTS),
            "text_en": [en for en, _ in RULE_TEXTS.values()],
            "text_fr": [fr for _, fr in RULE_TEXTS.values()],
        }
    )
