"""The full card-action registry: the incident card's verbs and the page card's."""
from bot.teams import page_actions  # noqa: F401 - registers the page card's buttons
from bot.teams import runbook_commands  # noqa: F401 - registers the runbook card's buttons
from bot.teams import comms_commands  # noqa: F401 - registers the comms buttons
from bot.teams import breach_commands  # noqa: F401 - registers the card's Possible data breach button
from bot.teams.card_actions import actions

__all__ = ["actions"]
