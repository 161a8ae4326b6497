"""`plan reload`: adopt an edited response plan without restarting, or be told why not.

Validation comes first (bot/plan_holder.py): a broken file is refused with every problem and
the plan in use stays. Who may: the admins of `bot.domain.plan_reload` (the plan owner and
the incident manager's acting groups, as for `setup`).
"""
from __future__ import annotations

from bot.domain import plan_reload
from bot.errors import ValidationFailed
from bot.plan_watch import reload_and_record
from bot.teams.context import CommandContext
from bot.teams.incident_commands import registry


@registry.command("plan", usage="plan reload", summary="Reload the response plan file (plan owner or admins)",
                  in_manifest=False)
async def plan_command(ctx: CommandContext) -> None:
    if ctx.command.args.strip().lower() != "reload":
        raise ValidationFailed("Say `plan reload` to load the edited response plan file. To check a file "
                               "before you deploy it, run `python app.py plan check FILE`.")
    holder = ctx.app.plans
    plan_reload.require_admin(holder.current(), ctx.actor)  # PermissionDenied says who may
    result = await reload_and_record(holder, ctx.app.service, actor=ctx.actor, trigger="command")
    if not result.ok:
        count = len(result.problems)
        await ctx.reply(
            f"I did not reload the plan: `{result.path}` has {count} problem{'s' if count != 1 else ''}, so the "
            f"plan already loaded (version {result.old.plan.version}) stays in use.\n\n"
            f"{plan_reload.problems_text(result.problems, result.path)}")
        return
    if result.unchanged:
        await ctx.reply(f"`{result.path}` says the same as the plan in use (version {result.old.plan.version}); "
                        "nothing changed.")
        return
    new = result.new
    assert new is not None
    changes = "\n".join(f"- {line}" for line in result.changes())
    await ctx.reply(f"Reloaded the response plan **{new.plan.name}** from `{result.path}`; from now on every "
                    "command and alert this replica handles uses it (other replicas read the file on their own, "
                    f"within `FIREBREAK_PLAN_WATCH` seconds).\n\n{changes}")
