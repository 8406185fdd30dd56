"""The one-sentence errors that reject an AAF file, and the feed-name check (feeds.md)."""

from __future__ import annotations

from rentree.infra.naming import FeedName, FeedNameError, parse_feed_name


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


_ASK_ACADEMY_EN = "ask the academy to deliver the file again"
_ASK_ACADEMY_FR = "demandez à l'académie de livrer à nouveau le fichier"


def file_error(
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
