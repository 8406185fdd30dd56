"""R2/R3: logins, activation codes, and the refusal for federated accounts."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rentree.tasks.sync.accounts import (
    ACTIVATION_ALPHABET,
    CredentialsRefused,
    activation_codes,
    assign_logins,
    refuse_credentials_action,
)

LOGIN = re.compile(r"^[a-z]{1,30}\.[a-z]{1,30}[0-9]*$")
names = st.text(min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(
    people=st.lists(st.tuples(names, names), min_size=1, max_size=25),
    taken=st.lists(st.sampled_from(["a.b", "a.b2", "x.x", "jean.dupont", "a.b7"]), max_size=5),
)
def test_r3_login_property_lower_ascii_short_parts_unique(
    people: list[tuple[str, str]], taken: list[str]
) -> None:
    frame = pl.DataFrame(
        {
            "external_id": [f"P{i:03d}" for i in range(len(people))],
            "first_name": [p[0] for p in people],
            "last_name": [p[1] for p in people],
        }
    )
    logins = assign_logins(frame, pl.Series(taken, dtype=pl.String))["login"].to_list()
    assert all(LOGIN.match(login) for login in logins), logins
    assert len(set(logins)) == len(logins)
    assert not set(logins) & set(taken)


def test_r3_login_strips_accents_and_symbols_and_cuts_parts() -> None:
    frame = pl.DataFrame(
        {
            "external_id": ["1", "2"],
            "first_name": ["Jean-Édouard", "Œlise"],
            "last_name": ["D'Hérouville-" + "x" * 40, "Straße"],
        }
    )
    logins = assign_logins(frame, pl.Series([], dtype=pl.String))["login"].to_list()
    assert logins == ["jeanedouard.dherouville" + "x" * 19, "oelise.strasse"]


def test_r3_activation_codes_have_eight_unambiguous_characters() -> None:
    codes = activation_codes(500).to_list()
    assert all(len(c) == 8 and set(c) <= set(ACTIVATION_ALPHABET) for c in codes)
    assert not set("".join(codes)) & set("0O1Il")
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("profile", "provider"),
    [
        ("Teacher", "academic SSO"),
        ("Personnel", "identifiants académiques"),
        ("Relative", "EduConnect"),
    ],
)
def test_r2_federated_credentials_refused_naming_the_provider(profile: str, provider: str) -> None:
    with pytest.raises(CredentialsRefused, match=provider):
        refuse_credentials_action(profile, "reset the password")


def test_r2_local_accounts_are_not_refused() -> None:
    refuse_credentials_action("Student")
    refuse_credentials_action("Guest")
