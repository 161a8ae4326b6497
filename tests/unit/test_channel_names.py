"""Incident channel names always satisfy Teams' documented channel-name rules."""
from __future__ import annotations

import re

import pytest

from bot.domain.channel_names import MAX_CHANNEL_NAME, incident_channel_name, unique_suffix
from bot.errors import ValidationFailed

# Teams: "Limits and specifications for Microsoft Teams", section "Channel names".
FORBIDDEN = set('~#%&*{}+/\\:<>?|\'",')
RESERVED = {"forms", "con", "conin$", "conout$", "prn", "aux", "nul", "desktop.ini", "_vti_"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)
}
SHAPE = re.compile(r"^inc-\d+(-[a-z0-9]+)*$")


def assert_valid_for_teams(name: str, number: int) -> None:
    assert name.startswith(f"inc-{number}")
    assert name == f"inc-{number}" or name.startswith(f"inc-{number}-")
    assert 0 < len(name) <= MAX_CHANNEL_NAME
    assert SHAPE.match(name), name
    assert not FORBIDDEN & set(name)
    assert ".." not in name
    assert not name.startswith(("_", ".")) and not name.endswith(".")
    assert all(not (0 <= ord(c) <= 0x1F or 0x80 <= ord(c) <= 0x9F) for c in name)
    assert name.casefold() not in RESERVED
    assert not set(name.split("-")) & RESERVED


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (7, "Payments API down", "inc-7-payments-api-down"),
        (7, "  payments   API\tdown \n", "inc-7-payments-api-down"),
        (3, "Café Zürich — paiement échoué", "inc-3-cafe-zurich-paiement-echoue"),
        (3, "Ærø naïve façade", "inc-3-r-naive-facade"),  # Æ/ø have no ASCII decomposition
        (4, "🔥 Checkout 🔥 broken 🚨", "inc-4-checkout-broken"),
        (4, "ＡＰＩ ｇａｔｅｗａｙ", "inc-4-api-gateway"),  # full-width letters fold
        (4, "ﬁle upload ②", "inc-4-file-upload-2"),  # ligature and circled digit fold
        (5, "🔥🔥🔥", "inc-5"),
        (5, "", "inc-5"),
        (5, "   ", "inc-5"),
        (5, "Ошибка базы данных", "inc-5"),  # nothing ASCII-foldable is usable
        (5, "DB 数据库 down", "inc-5-db-down"),
        (1, 'a~b#c%d&e*f{g}h+i/j\\k:l<m>n?o|p"q,r', "inc-1-a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r"),
        (1, "Can't log in", "inc-1-cant-log-in"),
        (1, "Customer’s orders", "inc-1-customers-orders"),
        (1, "_private .hidden. ..dots..", "inc-1-private-hidden-dots"),
        (1, "\x00ctrl\x1f chars\x85 here\x9f", "inc-1-ctrl-chars-here"),
        (1, "Forms service down", "inc-1-service-down"),
        (1, "CON PRN AUX NUL COM1 LPT9", "inc-1"),
        (1, "desktop.ini and _vti_ bin", "inc-1-desktop-ini-and-vti-bin"),
        (1, "CONIN$ CONOUT$", "inc-1-conin-conout"),
        (1, "Comcast com10 lpt0 console", "inc-1-comcast-com10-lpt0-console"),
        (0, "Drill", "inc-0-drill"),
        (12345, "v2.3.1 rollout", "inc-12345-v2-3-1-rollout"),
    ],
)
def test_incident_channel_name(number: int, title: str, expected: str) -> None:
    name = incident_channel_name(number, title)
    assert name == expected
    assert_valid_for_teams(name, number)


def test_long_titles_are_cut_on_a_word_boundary() -> None:
    title = "Payments API down in eu-west after the deploy of version 2 of the ledger service"
    name = incident_channel_name(7, title)
    assert name == "inc-7-payments-api-down-in-eu-west-after-the"
    # the next word would not have fitted; no word is ever cut in the middle
    assert len(name + "-deploy") > MAX_CHANNEL_NAME
    assert_valid_for_teams(name, 7)


def test_a_name_of_exactly_fifty_characters_is_kept_whole() -> None:
    title = "abcdefghijk " * 3 + "abcdefgh tail"  # inc-7 (5) + 3 x 12 + 9 = 50
    name = incident_channel_name(7, title)
    assert len(name) == MAX_CHANNEL_NAME
    assert name.endswith("-abcdefgh")


def test_a_single_overlong_word_is_cut_hard_rather_than_dropped() -> None:
    name = incident_channel_name(7, "x" * 80 + " tail")
    assert name == "inc-7-" + "x" * 44
    assert len(name) == MAX_CHANNEL_NAME


def test_a_huge_incident_number_keeps_its_prefix() -> None:
    number = 10**30
    name = incident_channel_name(number, "word " * 20)
    assert name.startswith(f"inc-{number}-word")
    assert_valid_for_teams(name, number)


@pytest.mark.parametrize("title", ["🔥" * 200, "é" * 500, "-_.-" * 40, "a" * 1000, "a " * 500])
def test_pathological_titles_stay_valid(title: str) -> None:
    assert_valid_for_teams(incident_channel_name(99, title), 99)


def test_the_same_input_gives_the_same_name() -> None:
    title = "Payments API down"
    assert incident_channel_name(7, title) == incident_channel_name(7, title)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "7"])
def test_a_bad_incident_number_is_refused(bad: object) -> None:
    with pytest.raises(ValidationFailed):
        incident_channel_name(bad, "x")  # type: ignore[arg-type]


def test_an_absurdly_long_number_is_refused_rather_than_cut() -> None:
    with pytest.raises(ValidationFailed):
        incident_channel_name(10**60, "x")


# -- unique_suffix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("inc-7-db-down", 1, "inc-7-db-down"),
        ("inc-7-db-down", 2, "inc-7-db-down-2"),
        ("inc-7-db-down", 10, "inc-7-db-down-10"),
        ("inc-7", 3, "inc-7-3"),
        # 50 characters: the last word goes to make room, on a word boundary
        ("inc-7-payments-api-down-in-eu-west-after-the-deplo", 2,
         "inc-7-payments-api-down-in-eu-west-after-the-2"),
        # one long word after the prefix: cut hard, the prefix is never touched
        ("inc-7-" + "x" * 44, 12, "inc-7-" + "x" * 41 + "-12"),
    ],
)
def test_unique_suffix(name: str, n: int, expected: str) -> None:
    assert unique_suffix(name, n) == expected
    assert len(unique_suffix(name, n)) <= MAX_CHANNEL_NAME


def test_unique_suffixes_are_distinct_and_valid() -> None:
    base = incident_channel_name(4242, "Payments API down in eu-west after the deploy of v2")
    names = [unique_suffix(base, n) for n in range(1, 120)]
    assert len(set(names)) == len(names)
    for name in names:
        assert_valid_for_teams(name, 4242)


@pytest.mark.parametrize("bad", [0, -2, True])
def test_unique_suffix_refuses_a_bad_counter(bad: object) -> None:
    with pytest.raises(ValidationFailed):
        unique_suffix("inc-7", bad)  # type: ignore[arg-type]
