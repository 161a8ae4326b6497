"""Every command module, imported for its registrations; `registry` is the complete registry."""
from bot.teams import setup_commands  # noqa: F401  (registers `setup`)
from bot.teams.incident_commands import registry

__all__ = ["registry"]
