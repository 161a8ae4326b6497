"""Who may do what to an incident.

Anyone in the conversation may declare, note, update, acknowledge and change severity. Only the
incident manager, or a member of a group the plan names in `roles.incident_manager.acting_groups`,
may resolve, reopen or hand the incident-manager role to someone else.
"""
from __future__ import annotations

from bot.domain.formatting import incident_ref
from bot.domain.model import Actor, IncidentView, Role
from bot.errors import PermissionDenied
from bot.plan import Plan

MANAGER_ACTIONS = frozenset({"resolve", "reopen"})


def is_manager(view: IncidentView, plan: Plan, actor: Actor) -> bool:
    """True for the incident manager and for members of the plan's acting groups."""
    holder = view.holder(Role.INCIDENT_MANAGER)
    if holder is not None and actor.aad_id and holder.aad_object_id == actor.aad_id:
        return True
    return bool(actor.email) and plan.may_act_as(Role.INCIDENT_MANAGER.value, actor.email or "")


def _acting_groups_text(plan: Plan) -> str:
    groups = plan.role(Role.INCIDENT_MANAGER.value).acting_groups
    if not groups:
        return ""
    names = ", ".join(plan.group(g).name for g in groups)
    return f" or a member of {names}"


def require_manager(view: IncidentView, plan: Plan, actor: Actor, *, action: str) -> None:
    """Raise PermissionDenied, politely saying who may, unless `actor` has the manager's authority."""
    if is_manager(view, plan, actor):
        return
    ref = incident_ref(view.id)
    holder = view.holder(Role.INCIDENT_MANAGER)
    if holder is None:
        who = f"the incident manager{_acting_groups_text(plan)}"
        hint = " It has no incident manager yet: say `assign manager me` to take the role."
    else:
        who = f"the incident manager ({holder.display_name}){_acting_groups_text(plan)}"
        hint = f" Ask {holder.display_name} to do it or to hand the role over."
    raise PermissionDenied(
        f"Sorry {actor.display}, only {who} may {action} {ref}.{hint}",
        action=action,
        allowed=who,
        incident_id=view.id,
    )
