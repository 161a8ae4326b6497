"""Docs generated from code must match the code (regenerate with `python scripts/gen_docs.py`)."""
from bot.teams.all_actions import actions
from bot.teams.command_docs import commands_markdown
from bot.teams.all_commands import registry
from tests.support import ROOT


def test_commands_doc_is_current():
    assert (ROOT / "docs" / "commands.md").read_text() == commands_markdown(registry, actions), (
        "docs/commands.md is stale: run `python scripts/gen_docs.py`"
    )


def test_commands_doc_lists_every_command_and_button():
    doc = commands_markdown(registry, actions)
    for spec in registry.specs():
        assert f"`{spec.usage}`".replace("|", "\\|") in doc
    for action in actions.specs():
        assert f"`{action.verb}`" in doc
