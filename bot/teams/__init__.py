"""The only part of `bot/` that talks to Teams through botbuilder."""
from bot.teams import lazy_recognizers

lazy_recognizers.install()
