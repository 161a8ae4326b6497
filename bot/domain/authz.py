"""Who may do what to an incident.

Anyone in the conversation may declare, note, update, acknowledge and change severity. Only the
incident manager, or a member of a group the plan names in `roles.incident_manager.acting_groups`,
may resolve, reopen or hand the incident-manager role to someone else. A message from another
Microsoft 365 organisation (a deployment may serve several tenants) is not put on an incident's
record.
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


def same_organisation(incident_tenant: str | None, tenant_id: str | None) -> bool:
    """True unless the incident and the person are both known to belong to different tenants
    (an incident declared where Teams named no tenant carries none)."""
    return not (incident_tenant and tenant_id and incident_tenant != tenant_id)


def require_same_organisation(view: IncidentView, actor: Actor, *, tenant_id: str | None, action: str) -> None:
    """Raise PermissionDenied when `actor` (acting from `tenant_id`) is of another organisation."""
    if same_organisation(view.incident.tenant_id, tenant_id):
        return
    raise PermissionDenied(
        f"Sorry {actor.display}, {incident_ref(view.id)} belongs to another organisation; "
        f"only its own people may {action} it.",
        action=action,
        allowed="people of the incident's own organisation",
        incident_id=view.id,
    )
