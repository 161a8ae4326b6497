"""The message a message action points at: Teams' HTML body to text, its author and link, and
the forms built from it (valid Adaptive Cards 1.5)."""
from datetime import datetime, timezone

import pytest

from bot.domain.incidents import MAX_TEXT
from bot.plan import load_plan
from bot.teams.message_action_cards import (
    DeclareDraft,
    IncidentChoice,
    add_to_timeline_form,
    declare_form,
    no_open_incidents_card,
    outcome_card,
)
from bot.teams.message_actions import draft_from
from bot.teams.message_payload import QuotedMessage, carried_message, html_to_text, quoted_message
from tests.support import EXAMPLE_PLAN, assert_valid_card

PLAN = load_plan(EXAMPLE_PLAN)


@pytest.mark.parametrize(("html", "text"), [
    ("<p>Payments down</p>", "Payments down"),
    ("<div>line one<br>line two</div>", "line one\nline two"),
    ("<p>a</p><p></p><p>b</p>", "a\nb"),
    ("R&amp;D &lt;prod&gt;&nbsp;is   down", "R&D <prod> is down"),
    ('<at id="0">Megan Bowen</at> look <img alt="🔥" src="x.png">', "Megan Bowen look 🔥"),
    ('<p>see <a href="https://status.example.com">status page</a></p>', "see status page"),
    ('text<attachment id="abc"></attachment><style>p{}</style> after', "text after"),
    ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
    ("", ""),
])
def test_html_to_text(html, text):
    assert html_to_text(html) == text


def test_a_payload_model_or_dict_gives_text_author_link_and_time():
    payload = {
        "id": "1700", "createdDateTime": "2026-11-29T13:59:11.220Z",
        "linkToMessage": "https://teams.microsoft.com/l/message/19:x@thread.skype/1700",
        "from": {"user": {"id": "aad-1", "displayName": "Megan Bowen", "userIdentityType": "aadUser"}},
        "body": {"contentType": "html", "content": "<p>Sync lag</p>"},
    }
    quoted = quoted_message(payload)
    assert (quoted.text, quoted.author, quoted.link, quoted.message_id) == (
        "Sync lag", "Megan Bowen", "https://teams.microsoft.com/l/message/19:x@thread.skype/1700", "1700")
    assert quoted.created == datetime(2026, 11, 29, 13, 59, 11, 220000, tzinfo=timezone.utc)

    from botbuilder.core.serializer_helper import deserializer_helper
    from botbuilder.schema.teams import MessageActionsPayload

    assert quoted_message(deserializer_helper(MessageActionsPayload, payload)) == quoted


def test_an_app_author_plain_text_and_unsafe_links():
    quoted = quoted_message({"from": {"application": {"displayName": "Azure Monitor"}},
                             "body": {"contentType": "text", "content": "CPU &gt; 90%"},
                             "linkToMessage": "javascript:alert(1)"})
    assert (quoted.text, quoted.author, quoted.link) == ("CPU > 90%", "Azure Monitor", None)
    assert quoted_message(None).empty and carried_message("not a dict").empty


def test_the_form_carries_the_message_and_gives_it_back():
    quoted = QuotedMessage(text="Sync lag", author="Megan", link="https://teams.microsoft.com/l/message/1", message_id="1")
    assert carried_message(quoted.as_data()) == quoted


def test_the_declare_draft_fits_what_declare_accepts():
    long_text = "first line " * 30 + "\n" + "x" * (MAX_TEXT + 50)
    draft = draft_from(QuotedMessage(text=long_text))
    assert len(draft.title) == 200 and draft.title.endswith("…")
    assert len(draft.description) == MAX_TEXT and draft.description.endswith("…")
    assert draft_from(QuotedMessage(text="\n\n  Second  line first\nmore")).title == "Second line first"


def test_the_forms_are_valid_cards():
    draft = DeclareDraft(title="Sync lag", description="text", severity="sev2", service_id="dataverse")
    form = declare_form(PLAN, draft, error="Pick a severity.")
    assert_valid_card(form)
    assert form["body"][0]["text"] == "Pick a severity."
    quoted = QuotedMessage(text="t" * 2000, author="Megan", link="https://teams.microsoft.com/l/message/1",
                           created=datetime(2026, 11, 29, 14, 0, tzinfo=timezone.utc))
    picker = add_to_timeline_form([IncidentChoice(3, "Sync lag", "sev3")], quoted, selected=3)
    assert_valid_card(picker)
    preview = picker["body"][1]["items"][1]["text"]
    assert len(preview) == 600 and preview.endswith("…")  # a preview; the whole text is recorded
    assert_valid_card(no_open_incidents_card())
    assert_valid_card(outcome_card("Done", ["a line"], url="https://teams.microsoft.com/l/message/1"))
