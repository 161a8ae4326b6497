"""Every command module, imported for its registrations; `registry` is the complete registry."""
from bot.teams import alert_commands, oncall_commands, role_commands, setup_commands  # noqa: F401  (register their commands)
from bot.teams.incident_commands import registry

__all__ = ["registry"]
