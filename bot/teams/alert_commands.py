"""Alert commands: `alerts` lists an incident's alerts and silences; `silence` mutes alerts
for a while. Each parses, calls one domain function through the IncidentService, and replies.

The domain module (`bot.domain.alerts`, and with it the ORM classes of the alert rows) is
imported by the handlers, on the first alert command: registering the commands at start-up
must not load what only these rare commands use."""
from __future__ import annotations

from bot.domain.formatting import format_time, incident_ref
from bot.durations import DurationError, parse_duration
from bot.errors import ValidationFailed
from bot.teams.alert_cards import alerts_card, payload_text
from bot.teams.context import CommandContext
from bot.teams.incident_commands import apply_change, registry, split_ref, target_of

SILENCE_USAGE = "silence [INC-n] DURATION [label=value ...]"


@registry.command("alerts", usage="alerts [INC-n] [payload N [page P]]", summary="List an incident's alerts and silences",
                  in_manifest=False)
async def list_alerts(ctx: CommandContext) -> None:
    from bot.domain import alerts

    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if words[:1] == ["payload"] and len(words) in (2, 4) and words[1].isdigit() and (
            len(words) == 2 or (words[2] == "page" and words[3].isdigit())):
        await _show_payload(ctx, explicit, int(words[1]), page=int(words[3]) if len(words) == 4 else 1)
        return
    if rest:
        raise ValidationFailed("Say `alerts` in an incident's space (or `alerts INC-7`), or `alerts payload N` "
                               "(`alerts payload N page 2`) for a webhook its timeline names.")
    iid = await target_of(ctx, explicit)
    now = ctx.app.service.clock.now()
    lines, silences = await ctx.app.service.read(lambda s: alerts.listing(s, iid, now=now))
    if not lines and not silences:
        await ctx.reply(f"No alert is attached to {incident_ref(iid)}: it was declared by hand.")
        return
    await ctx.reply_card(alerts_card(iid, lines, silences))


async def _show_payload(ctx: CommandContext, explicit: int | None, payload_id: int, *, page: int) -> None:
    from bot.domain import alerts

    iid = await target_of(ctx, explicit)
    body = await ctx.app.service.read(lambda s: alerts.payload_for(s, incident_id=iid, payload_id=payload_id))
    if body is None:
        raise ValidationFailed(f"{incident_ref(iid)}'s timeline names no webhook {payload_id}; say `timeline` to see "
                               "the ones it does.")
    await ctx.reply(payload_text(iid, payload_id, body, page=page))


@registry.command("silence", usage=SILENCE_USAGE, summary="Mute matching alerts for a while", in_manifest=False)
async def silence(ctx: CommandContext) -> None:
    from bot.domain import alerts

    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if not words:
        raise ValidationFailed(f"For how long? Say `{SILENCE_USAGE}`, e.g. `silence 2h service=checkout`.")
    try:
        duration = parse_duration(words[0])
    except DurationError as exc:
        raise ValidationFailed(f"{exc}. Say e.g. `silence 2h service=checkout`.") from None
    matchers = alerts.parse_matchers(words[1:])
    ends: dict = {}

    async def change(session, now, iid):
        ends["at"] = await alerts.silence(session, plan=ctx.app.service.plan, incident_id=iid, duration=duration,
                                          matchers=matchers, actor=ctx.actor, source=ctx.source, now=now)

    iid = await apply_change(ctx, explicit, "silence", change, refresh_card=False)
    if iid is None:
        return
    what = " ".join(f"{k}={v}" for k, v in sorted(matchers.items())) or f"the alerts of {incident_ref(iid)}"
    await ctx.reply(f"🔇 Silenced {what} until {format_time(ends['at'], ctx.zone)}: they are recorded but open and "
                    "page nothing until then.")

