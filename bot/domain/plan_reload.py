"""Reloading the response plan: who may, what is recorded, and who is told when a file is broken.

Who may reload ("an admin") is who may change the setup (`bot.domain.setup.may_configure`):
the plan owner and the members of the incident manager's acting groups, judged by the plan in
use (a new file cannot grant itself authority). Both kinds of change to how the organisation
responds (which channel, which plan) thus have one set of admins and one audit trail.

When a file change breaks the plan nobody is at a keyboard waiting for an answer, so the admins
are told in their 1:1 chat: the plan owner, and whoever bound the incidents channel with
`setup incidents` (the person who installed Firebreak). Each broken version of the file
(its hash) is told once.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.direct_messages import DIRECT_RENDER
from bot.domain.model import Actor
from bot.domain.setup import may_configure, who_may_configure
from bot.errors import PermissionDenied
from bot.plan import Plan, PlanProblem
from storage import bindings, outbox, queries

AUDIT_ACTION = "plan reload"
MAX_PROBLEM_TEXT = 6000
"""Characters of problems in one Teams message (Teams takes about 28 KB; a wall of text helps nobody)."""


def require_admin(plan: Plan, actor: Actor) -> None:
    """PermissionDenied unless the actor may reload the plan (see the module docstring)."""
    if not may_configure(plan, actor):
        raise PermissionDenied(
            f"Sorry {actor.display}, only {who_may_configure(plan)} may reload the response plan.",
            action="plan reload", allowed=who_may_configure(plan),
        )


def problems_text(problems: Sequence[PlanProblem], path: Path, *, limit: int = MAX_PROBLEM_TEXT) -> str:
    """Every problem, one a line (path, message, fix), cut to fit one message with how to see the rest."""
    lines: list[str] = []
    used = 0
    for index, problem in enumerate(problems):
        line = f"- `{problem.path}`: {problem.message.rstrip('.')}. Fix: {problem.fix}"
        if used + len(line) > limit and lines:
            rest = len(problems) - index
            lines.append(f"…and {rest} more; run `python app.py plan check {path}` to see them all.")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _plan_facts(plan: Plan, path: Path, digest: str = "") -> str:
    facts = {"version": plan.plan.version, "file": str(path), "services": len(plan.services),
             "runbooks": len(plan.runbooks), "severities": [s.id for s in plan.severities]}
    if digest:
        facts["sha256"] = digest
    return json.dumps(facts, sort_keys=True)


async def record_reload(session: AsyncSession, *, old: Plan, new: Plan, path: Path, digest: str, actor: Actor,
                        trigger: str, now: datetime) -> None:
    """Write a successful reload to the configuration audit trail (what it replaced, what it adopted)."""
    await bindings.record_audit(
        session, at=now, action=f"{AUDIT_ACTION} ({trigger})", actor_aad=actor.aad_id, actor_name=actor.display,
        old_value=_plan_facts(old, path), new_value=_plan_facts(new, path, digest))


async def admin_aad_ids(session: AsyncSession, plan: Plan) -> list[str]:
    """Who is told about a broken plan file: the plan owner and whoever bound the incidents channel."""
    found: list[str] = []
    owner = (await queries.aad_ids_by_email(session, [plan.plan.owner])).get(plan.plan.owner.lower())
    if owner:
        found.append(owner)
    binding = await bindings.get_binding(session, "incidents")
    if binding is not None and binding.set_by_aad and binding.set_by_aad not in found:
        found.append(binding.set_by_aad)
    return found


async def tell_admins_broken(session: AsyncSession, *, plan: Plan, path: Path, digest: str,
                             problems: Sequence[PlanProblem], now: datetime) -> list[str]:
    """Tell each admin, once per broken version of the file, that it was not loaded and why;
    returns the AAD ids told now."""
    count = len(problems)
    text = (f"⚠️ The response plan file `{path}` changed, but it has {count} problem{'s' if count != 1 else ''}, "
            f"so I kept using the plan already loaded (version {plan.plan.version}). Fix the file and save it "
            f"again, or say `plan reload` once it is fixed:\n\n{problems_text(problems, path)}")
    channel = await bindings.get_binding(session, "incidents")
    told: list[str] = []
    for aad in await admin_aad_ids(session, plan):
        key = f"plan-broken:{digest or 'unreadable'}:{aad}"
        if not await queries.claim_key(session, key, now=now):
            continue
        await outbox.enqueue(session, key=key, conversation_id=f"user:{aad}", now=now,
                             payload={"render": DIRECT_RENDER, "user_aad": aad, "text": text,
                                      "summary": "response plan not reloaded",
                                      "via": channel.channel_id if channel else None})
        told.append(aad)
    return told
