"""Every command module, imported for its registrations; `registry` is the complete registry."""
from bot.teams import alert_commands, oncall_commands, role_commands, setup_commands  # noqa: F401  (register their commands)
from bot.teams import triage_commands  # noqa: F401  (triage, and the card's Triage button)
from bot.teams import runbook_commands  # noqa: F401  (runbook, and the progress card's buttons)
from bot.teams import comms_commands, plan_commands  # noqa: F401  (comms, tools, plan reload)
from bot.teams import breach_commands, security_commands  # noqa: F401  (breakglass, followups, breach)
from bot.teams.incident_commands import registry

__all__ = ["registry"]
