"""The full card-action registry: the incident card's verbs and the page card's."""
from bot.teams import page_actions  # noqa: F401 - registers the page card's buttons
from bot.teams.card_actions import actions

__all__ = ["actions"]
