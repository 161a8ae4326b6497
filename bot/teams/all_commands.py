"""Every command module, imported for its registrations; `registry` is the complete registry."""
from bot.teams import role_commands, setup_commands  # noqa: F401  (register `handover`, `setup`)
from bot.teams.incident_commands import registry

__all__ = ["registry"]
