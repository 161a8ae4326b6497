"""The command parser and registry: what users type -> which command, with which arguments."""
import pytest

from bot.errors import ValidationFailed
from bot.teams.commands import CommandRegistry, Mention, clean_text, parse_command
from bot.teams.incident_commands import parse_declare_args, registry, split_ref

SEVS = ["sev1", "sev2", "sev3", "sev4"]


@pytest.mark.parametrize(
    "text, name, args",
    [
        ("declare Payments API down sev1", "declare", "Payments API down sev1"),
        ("/declare Payments down", "declare", "Payments down"),
        ("DECLARE Something", "declare", "Something"),
        ("<at>Firebreak</at> status", "status", ""),
        ("<at>Firebreak</at>&nbsp;note  rolled   back", "note", "rolled back"),
        ("<p><at>Firebreak</at> list</p>", "list", ""),
        ("  /ack   INC-7 ", "ack", "INC-7"),
        ("assign comms <at>Megan Bowen</at>", "assign", "comms @Megan Bowen"),
    ],
)
def test_parse_command(text, name, args):
    parsed = parse_command(text, bot_names=["Firebreak"])
    assert parsed is not None
    assert (parsed.name, parsed.args) == (name, args)


@pytest.mark.parametrize("text", ["", "   ", "<at>Firebreak</at>", "/"])
def test_empty_messages_are_not_commands(text):
    assert parse_command(text, bot_names=["Firebreak"]) is None


def test_clean_text_keeps_user_mentions_and_drops_the_bot():
    text, names = clean_text("<at>Firebreak</at> assign manager <at>Adele</at>", bot_names=["Firebreak"])
    assert text == "assign manager @Adele"
    assert names == ["Adele"]


@pytest.mark.parametrize(
    "args, expected",
    [
        ("Payments API down sev1", {"title": "Payments API down", "severity": "sev1", "service_id": None}),
        ("SEV2 Login slow service:entra-id", {"title": "Login slow", "severity": "sev2", "service_id": "entra-id"}),
        ("Checkout errors", {"title": "Checkout errors", "severity": None, "service_id": None}),
        ("sev3", {"title": "", "severity": "sev3", "service_id": None}),
        ("sev1 and sev2 confusion", {"title": "and sev2 confusion", "severity": "sev1", "service_id": None}),
    ],
)
def test_parse_declare_args(args, expected):
    assert parse_declare_args(args, severity_ids=SEVS) == expected


@pytest.mark.parametrize(
    "args, expected",
    [("INC-7 rolled back", (7, "rolled back")), ("inc12", (12, "")), ("rolled back", (None, "rolled back")), ("", (None, ""))],
)
def test_split_ref(args, expected):
    assert split_ref(args) == expected


def test_split_ref_rejects_inc_zero():
    with pytest.raises(ValidationFailed):
        split_ref("INC-0 text")


def test_every_contract_command_is_registered():
    for name in ["declare", "status", "list", "sev", "assign", "note", "update", "ack", "resolve", "reopen",
                 "timeline", "help", "cancel"]:
        assert registry.lookup(name) is not None, name


def test_unknown_command_suggests_the_right_one():
    reply = registry.unknown_reply("delcare")
    assert "declare TITLE" in reply and "help" in reply
    assert "Did you mean" not in registry.unknown_reply("xyzzy")


def test_registry_refuses_duplicates_and_generates_manifest_and_help():
    reg: CommandRegistry = CommandRegistry()

    @reg.command("one", usage="one <x>", summary="First", aliases=("1",))
    async def one(ctx):  # pragma: no cover - never called
        pass

    @reg.command("hidden", usage="hidden", summary="Not in manifest", in_manifest=False)
    async def hidden(ctx):  # pragma: no cover
        pass

    with pytest.raises(ValueError):
        reg.command("one", usage="", summary="")(one)
    assert reg.lookup("1").name == "one"
    assert reg.manifest_commands() == [("one", "First")]
    assert reg.help_lines() == ["`one <x>`: First", "`hidden`: Not in manifest"]


def test_mentions_are_carried():
    parsed = parse_command("assign comms <at>Megan</at>", mentions=[Mention(id="29:1", name="Megan")])
    assert parsed.mentions[0].id == "29:1"


def test_the_manifest_suggests_the_ten_most_used_commands():
    from bot.teams.all_commands import registry as full

    titles = [title for title, _ in full.manifest_commands()]
    assert len(titles) <= 10  # Teams shows at most 10 per scope; the rest still work and are in help
    for must in ("declare", "status", "ack", "resolve", "update", "page", "oncall", "help"):
        assert must in titles
