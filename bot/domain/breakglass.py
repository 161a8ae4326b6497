"""Break-glass: an emergency account's documented procedure, shown only to the people the plan
allows, with security told at once and follow-up items opened until someone closes them.

Every request is a security event, and so is every refused attempt (attempts matter to
security): each goes on the audit trail, and on the incident's timeline when it is made for an
incident; the plan's `breakglass.notify_group` is told in 1:1 chats at once, one outbox message
per member, idempotent on the request. Members who cannot be reached in Teams are recorded
(timeline and audit trail); when none of the group could be told, the notice goes to the
incidents channel, and failing that the requester is told to call security. The plan holds no
credential, so none is ever shown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import conversations, follow_ups
from bot.domain.direct_messages import send_direct
from bot.domain.unreachable import Delivery, post_in_incidents_channel, tell_directly
from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import Actor, Source
from bot.domain.timeline import record
from bot.errors import ValidationFailed
from bot.plan import Plan
from bot.plan_duties import BreakGlass, BreakGlassAccount
from storage import follow_ups as follow_up_store
from storage.bindings import get_binding, record_audit
from storage.models import Incident

REQUESTED = "security.breakglass"
REFUSED = "security.breakglass_refused"


@dataclass(frozen=True)
class Outcome:
    """What a request did: allowed or refused, who in security was told, the follow-ups opened."""

    allowed: bool
    account: BreakGlassAccount
    incident_id: int | None
    told: list[str] = field(default_factory=list)
    untold: list[str] = field(default_factory=list)
    follow_up_ids: list[int] = field(default_factory=list)
    procedure_sent: bool = False
    nobody_told: bool = False
    """None of the notify group could be told in a 1:1 chat."""
    posted_in_channel: bool = False
    """...so the notice went to the incidents channel instead."""
    need_to_know: bool = False
    """The incident is need-to-know, so nothing about it goes to the shared incidents channel."""
    unreached: list[str] = field(default_factory=list)
    """`Name (e-mail)` of the members who could not be told, for the requester to call."""


def section(plan: Plan) -> BreakGlass:
    if plan.breakglass is None:
        raise ValidationFailed("The response plan has no `breakglass` section, so there is no break-glass procedure "
                               "here. Ask the plan's owner to add one.")
    return plan.breakglass


def may_use(plan: Plan, account: BreakGlassAccount, email: str | None) -> bool:
    """Whether the person is named in `allowed_people` or is a member of an `allowed_groups` group."""
    if not email:
        return False
    email = email.lower()
    return email in {p.lower() for p in account.allowed_people} or \
        any(email in plan.members_of(g) for g in account.allowed_groups)


def who_may(plan: Plan, account: BreakGlassAccount) -> str:
    """`members of Security operations, or Priya Raman`."""
    parts = [f"members of {plan.group(g).name}" for g in account.allowed_groups]
    parts += [(plan.person(p).name if plan.person(p) else p) for p in account.allowed_people]
    return ", or ".join(parts)


def find_account(plan: Plan, account_id: str, actor: Actor) -> BreakGlassAccount:
    """The account with this id; ValidationFailed listing the valid ones (yours first)."""
    bg = section(plan)
    for account in bg.accounts:
        if account.id == account_id.lower():
            return account
    yours = [a.id for a in bg.accounts if may_use(plan, a, actor.email)]
    others = [a.id for a in bg.accounts if a.id not in yours]
    listed = (f"You may use: {', '.join(f'`{a}`' for a in yours)}. " if yours else "") + \
        (f"Others: {', '.join(f'`{a}`' for a in others)}." if others else "")
    raise ValidationFailed(f"There is no break-glass account `{account_id}`. {listed} "
                           "Say `breakglass` for the list, then `breakglass ACCOUNT`.")


def procedure_text(account: BreakGlassAccount, *, incident_id: int | None) -> str:
    """The steps and the link, for the requester's eyes only (never a credential: the plan has none)."""
    where = f" for {incident_ref(incident_id)}" if incident_id is not None else ""
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(account.steps, 1))
    return (f"🔓 **Break-glass procedure: {account.name}**{where}\n\n{steps}\n\n"
            f"Full procedure: {account.procedure_url}\n\n"
            "Never paste a password, key or code into Teams. Security operations were told of this request.")


async def can_reach_privately(session: AsyncSession, actor: Actor) -> bool:
    """Whether a 1:1 message can reach the person: their 1:1 chat with the bot is known, or the
    incidents channel is set up (the sender opens the chat through it)."""
    if await conversations.stored_reference(session, f"user:{actor.aad_id}") is not None:
        return True
    return await get_binding(session, "incidents") is not None


def _zone(plan: Plan, email: str):
    person = plan.person(email)
    return ZoneInfo(person.time_zone) if person is not None else timezone.utc


def _who(plan: Plan, actor: Actor) -> str:
    return f"{actor.display} ({actor.email})" if actor.email else f"{actor.display} (e-mail unknown)"


async def request(session: AsyncSession, *, plan: Plan, account: BreakGlassAccount, actor: Actor,
                  incident_id: int | None, request_key: str, send_procedure: bool, source: Source,
                  now: datetime) -> Outcome:
    """Record a break-glass request (or a refused attempt), tell security, open the follow-ups,
    and (with `send_procedure`) queue the procedure to the requester's 1:1 chat."""
    bg = section(plan)
    allowed = may_use(plan, account, actor.email)
    ref = incident_ref(incident_id) if incident_id is not None else "no incident"
    ids: list[int] = []
    if allowed:
        subject = f"break-glass `{account.id}` by {actor.display}, {ref}"
        ids = await follow_up_store.open_items(
            session, incident_id=incident_id, kind=follow_ups.BREAKGLASS, subject=subject, texts=bg.follow_up,
            opened_by_aad=actor.aad_id, opened_by_name=actor.display, now=now)
        summary = f"{_who(plan, actor)} requested `{account.id}` ({account.name}); follow-ups " + \
            ", ".join(f"#{i}" for i in ids)
    else:
        summary = f"{_who(plan, actor)} asked for `{account.id}` ({account.name}) and was refused: only " \
            f"{who_may(plan, account)} may use it"
    kind = REQUESTED if allowed else REFUSED
    if incident_id is not None:
        await record(session, incident_id=incident_id, kind=kind, source=source, actor=actor, now=now,
                     new=account.id, text=summary)
    await record_audit(session, at=now, action=f"{kind} {account.id}"[:60], actor_aad=actor.aad_id,
                       actor_name=actor.display, old_value=None,
                       new_value=json.dumps({"account": account.id, "incident": incident_id, "allowed": allowed,
                                             "email": actor.email, "follow_ups": ids}))
    told, untold, unreached = [], [], []
    for email in sorted(plan.members_of(bg.notify_group)):
        if email == (actor.email or "").lower():
            continue  # the requester knows; the rest of the group is who must hear at once
        name = plan.person(email).name if plan.person(email) else email
        delivery = await tell_directly(
            session, key=f"{kind}:{request_key}:{email}", email=email, now=now, incident_id=incident_id,
            summary=f"break-glass {'request' if allowed else 'attempt'}",
            text=_security_text(plan, account, actor, incident_id, ids, allowed, now, email))
        if delivery is Delivery.UNREACHABLE:
            untold.append(name)
            unreached.append(f"{name} ({email})")
        else:
            told.append(name)
    nobody_told = not told
    posted = False
    incident = await session.get(Incident, incident_id) if incident_id is not None else None
    need_to_know = bool(incident is not None and incident.need_to_know)
    if nobody_told and not need_to_know:
        notice = _security_text(plan, account, actor, incident_id, ids, allowed, now, "") + \
            f"\n\n⚠️ None of {plan.group(bg.notify_group).name} could be told in Teams" + \
            (f" (not reachable yet: {', '.join(unreached)})" if unreached else "") + ". Someone call them now."
        posted = await post_in_incidents_channel(session, key=f"{kind}:{request_key}:channel", text=notice, now=now,
                                                 summary=f"break-glass {'request' if allowed else 'attempt'}",
                                                 incident_id=incident_id) is not None
    if untold:
        where = "; posted in the incidents channel" if posted else ""
        if incident_id is not None:
            await record(session, incident_id=incident_id, kind=kind, source=Source.SYSTEM, actor=actor, now=now,
                         new=account.id, text=f"could not tell in Teams (never used Firebreak): {', '.join(untold)}{where}")
        await record_audit(session, at=now, action=f"{kind} untold"[:60], actor_aad=actor.aad_id,
                           actor_name=actor.display, old_value=None,
                           new_value=json.dumps({"account": account.id, "incident": incident_id,
                                                 "not_reachable": unreached,
                                                 "nobody_told": nobody_told, "channel": posted}))
    sent = False
    if allowed and send_procedure and actor.email:
        sent = await send_direct(session, key=f"breakglass-procedure:{request_key}", email=actor.email, now=now,
                                 incident_id=incident_id, summary=f"break-glass procedure: {account.name}",
                                 text=procedure_text(account, incident_id=incident_id))
    return Outcome(allowed=allowed, account=account, incident_id=incident_id, told=told, untold=untold,
                   follow_up_ids=ids, procedure_sent=sent, nobody_told=nobody_told, posted_in_channel=posted,
                   need_to_know=need_to_know,
                   unreached=unreached)


def _security_text(plan: Plan, account: BreakGlassAccount, actor: Actor, incident_id: int | None, ids: list[int],
                   allowed: bool, now: datetime, email: str) -> str:
    when = format_time(now, _zone(plan, email))  # no e-mail (a channel's many readers): UTC
    where = f"for **{incident_ref(incident_id)}**" if incident_id is not None else "outside any incident"
    if allowed:
        items = "\n".join(f"- #{i} {text}" for i, text in zip(ids, plan.breakglass.follow_up))
        return (f"🔓 **Break-glass requested**: {_who(plan, actor)} asked for **{account.name}** (`{account.id}`) "
                f"{where} at {when}. They were shown the procedure.\n\nFollow-ups opened until someone closes "
                f"them:\n{items}\n\nSay `followups` to see them, `followup close N NOTE` to close one.")
    return (f"⛔ **Break-glass attempt refused**: {_who(plan, actor)} asked for **{account.name}** (`{account.id}`) "
            f"{where} at {when}, and is not allowed to use it (only {who_may(plan, account)}). "
            "Nothing was shown to them.")
