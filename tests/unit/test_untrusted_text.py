"""Alert text on cards stays text; only http(s) links become buttons."""
import pytest

from bot.teams.untrusted import plain, safe_url


@pytest.mark.parametrize(("raw", "shown"), [
    ("Disk full on db-1", "Disk full on db-1"),
    ("[click](https://evil.example)", "\\[click\\](https://evil.example)"),  # no live link
    ("**urgent** _now_ `code` ~~gone~~", "\\*\\*urgent\\*\\* \\_now\\_ \\`code\\` \\~\\~gone\\~\\~"),
    ("<at>Everyone</at> hi", "‹at›Everyone‹/at› hi"),  # no mention tag, no HTML
    ("line one\n\n- line two\r\n# three", "line one - line two # three"),  # one line, no list or heading
    ("- starts a list", "\\- starts a list"),
    ("12. starts a numbered list", "12\\. starts a numbered list"),
    ("back\\slash", "back\\\\slash"),
])
def test_plain_neutralises_markdown_mentions_and_structure(raw, shown):
    assert plain(raw) == shown


def test_plain_cuts_long_text():
    assert plain("x" * 500, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize(("url", "kept"), [
    ("https://grafana.example/d/abc?orgId=1", True),
    ("http://127.0.0.1:9090/graph?g0.expr=up", True),
    ("javascript:alert(1)", False),
    ("JAVASCRIPT:alert(1)", False),
    ("data:text/html,<script>", False),
    ("//evil.example/x", False),
    ("https://", False),
    ("https://ok.example/a b", False),
    ("https://ok.example/" + "a" * 3000, False),
    (None, False),
])
def test_only_absolute_http_links_are_kept(url, kept):
    assert safe_url(url) == (url if kept else None)


def test_a_long_payload_is_shown_a_page_at_a_time_and_nothing_is_lost():
    from bot.teams.alert_cards import payload_text

    body = "".join(f"line {i:05d} 🔥 <at>x</at> ```\n" for i in range(3000))  # ~96,000 characters, multibyte
    pages = []
    page = 1
    while True:
        text = payload_text(7, 12, body, page=page)
        assert len(text.encode("utf-8")) < 28_000  # within Teams' message size
        pages.append(text.split("```\n", 1)[1].rsplit("\n```", 1)[0])
        if "for more" not in text:
            break
        assert f"`alerts payload 12 page {page + 1}`" in text
        page += 1
    assert len(pages) >= 4 and f"(page {len(pages)} of {len(pages)})" in text
    joined = "".join(pages).replace("`\u200b``", "```").replace("‹", "<").replace("›", ">")
    assert joined == body  # every character of the body is on some page
