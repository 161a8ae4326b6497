"""Runbook cards (Adaptive Card 1.5, pure functions): the one progress card of a run, which walks
its steps one at a time, and the list of the plan's runbooks with the incident's runs.

Every step button carries the run id and the step and phase it was drawn for, so a press on an
old copy of the card is recognised and never applied to a later step. The card is shared by
everyone in the conversation, so it shows times in UTC and names who runs it.
"""
from __future__ import annotations

from datetime import timezone
from typing import Sequence

from bot.domain.formatting import format_time, incident_ref
from bot.domain.runbook_rules import ROLLBACK, REQUESTED_CAUSE, Entry, Outcome, allowed, entries_at
from bot.domain.runbooks import RunView, summary_line
from bot.plan import Plan
from bot.teams.cards import SCHEMA
from bot.teams.untrusted import plain

_MARK = {
    Entry.DONE: "✅ done", Entry.FAILED: "❌ failed", Entry.SKIPPED: "⏭ skipped",
    Entry.ROLLBACK_STARTED: "↩ rollback started", Entry.ROLLED_BACK: "↩ rolled back",
    Entry.ROLLBACK_FAILED: "⚠ rollback failed", Entry.NOT_ROLLED_BACK: "➡ not rolled back",
}
_BUTTON = {
    Outcome.DONE: "✅ Done", Outcome.FAILED: "❌ Failed", Outcome.ROLLBACK: "↩ Roll back",
    Outcome.ROLLBACK_DONE: "Rollback done", Outcome.ROLLBACK_FAILED: "Rollback failed",
    Outcome.CONTINUE: "Continue without rolling back",
}


def _text(text: str, **style: object) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _execute(title: str, verb: str, data: dict, **extra: object) -> dict:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data, **extra}


def button_data(run: RunView) -> dict:
    """What every button of this card carries: the run, and the step and phase it shows."""
    return {"incident_id": run.incident_id, "run_id": run.id, "step": run.state.step, "phase": run.state.phase,
            "version": run.version}


def _history(run: RunView, zone) -> list[dict]:
    facts = []
    for index in range(run.total):
        entries = entries_at(run.state, index)
        if not entries:
            continue
        said = "; ".join(
            f"{_MARK[e.entry]}" + (f" ({plain(e.reason, limit=300)})" if e.reason else "")
            + f" by {plain(e.by, limit=100)}, {format_time(e.at, zone)}" for e in entries)
        facts.append({"title": f"{index + 1}. {plain(run.step_text(index).title, limit=120)}", "value": said})
    return [{"type": "FactSet", "facts": facts}] if facts else []


def progress_card(run: RunView, *, notice: str | None = None, zone=timezone.utc) -> dict:
    """The run's card: the current step with its buttons, or, once finished, the outcome of
    every step. `notice` (a refusal, a stale press) is shown on top, for the presser's copy."""
    ref = incident_ref(run.incident_id)
    holder = run.holder_name or "nobody: press Take over to run it"
    body: list[dict] = [
        _text(f"📋 {ref} · {plain(run.runbook.name)}", size="Large", weight="Bolder"),
        _text(f"Team: {run.runbook.team} · Started {format_time(run.started_at, zone)} by {plain(run.started_by)}",
              isSubtle=True, spacing="None"),
    ]
    if notice:
        body.append(_text(f"⚠ {notice}", color="Attention", weight="Bolder"))
    data = button_data(run)
    if run.state.finished:
        ended = run.finished_at or run.updated_at
        body.append(_text(f"Finished {format_time(ended, zone)}: {summary_line(run)}.", weight="Bolder",
                          color="Good"))
        body.extend(_history(run, zone))
        return _card(body, [])
    body.append(_text(f"Run by {plain(holder)}", weight="Bolder"))
    step = run.current
    heading = (f"Last step ({run.state.step + 1} of {run.total}): bring the component back · {step.title}"
               if step.bring_back else f"Step {run.state.step + 1} of {run.total}: {step.title}")
    body.append(_text(plain(heading, limit=300), size="Medium", weight="Bolder", separator=True))
    body.append(_text(plain(step.instructions, limit=2000)))
    if step.check:
        body.append(_text(f"**Check:** {plain(step.check, limit=1000)}"))
    actions: list[dict] = []
    if run.state.phase == ROLLBACK:
        why = ("You asked to roll this step back." if run.state.cause == REQUESTED_CAUSE
               else "This step failed. Roll it back?")
        body.append({"type": "Container", "style": "warning", "items": [
            _text(why, weight="Bolder"), _text(f"**Rollback:** {plain(step.rollback or '', limit=1000)}")]})
    for outcome in allowed(run.state, has_rollback=step.rollback is not None):
        if outcome is Outcome.SKIP:
            actions.append(_skip_action(data))
        else:
            actions.append(_execute(_BUTTON[outcome], f"runbook.{outcome.value}", data))
    if run.state.records:
        body.append(_text("So far", weight="Bolder", separator=True))
        body.extend(_history(run, zone))
    handover = [_execute("Take over", "runbook.take", data)]
    if run.holder_aad:
        handover.append(_execute("Release", "runbook.release", data))
    body.append({"type": "ActionSet", "actions": handover})
    return _card(body, actions)


def _skip_action(data: dict) -> dict:
    return {"type": "Action.ShowCard", "title": "⏭ Skip", "card": {
        "type": "AdaptiveCard", "version": "1.5", "body": [
            {"type": "Input.Text", "id": "reason", "label": "Why skip this step?", "isRequired": True,
             "maxLength": 300, "errorMessage": "Write why the step is skipped; it goes on the timeline."}],
        "actions": [_execute("Skip step", "runbook.skip", data, associatedInputs="auto")]}}


def _card(body: list[dict], actions: list[dict]) -> dict:
    card: dict = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def progress_line(run: RunView, zone=timezone.utc) -> str:
    """One line about a run for the `runbook` list."""
    if run.state.finished:
        return f"finished {format_time(run.finished_at or run.updated_at, zone)}: {summary_line(run)}"
    where = run.label(run.state.step) + (" (rollback open)" if run.state.phase == ROLLBACK else "")
    return f"at {where}; run by {run.holder_name or 'nobody (take it over)'}"


def runbooks_card(plan: Plan, *, incident_id: int | None, service_runbook: str | None, runs: Sequence[RunView],
                  zone=timezone.utc) -> dict:
    """The plan's runbooks (the incident's service's first, marked) and the incident's runs."""
    ordered = sorted(plan.runbooks, key=lambda r: r.id != service_runbook)
    title = f"📋 Runbooks for {incident_ref(incident_id)}" if incident_id else "📋 Runbooks in the plan"
    body: list[dict] = [_text(title, size="Large", weight="Bolder")]
    if not ordered:
        body.append(_text("The plan has no runbooks yet; add them under `runbooks:` in the plan file."))
    for rb in ordered:
        mark = " ⭐ this incident's service" if rb.id == service_runbook else ""
        items: list[dict] = [
            _text(f"**{plain(rb.name)}** (`{rb.id}`){mark}", spacing="Small"),
            _text(f"Team {rb.team} · {len(rb.steps) + 1} steps, the last: {plain(rb.bring_back.title)}",
                  isSubtle=True, spacing="None"),
        ]
        if incident_id:
            items.append({"type": "ActionSet", "actions": [
                _execute(f"Start {rb.id}", "runbook.start", {"incident_id": incident_id, "runbook_id": rb.id})]})
        body.append({"type": "Container", "separator": True, "items": items})
    if runs:
        body.append(_text("Runs of this incident", weight="Bolder", separator=True))
        body.append({"type": "FactSet", "facts": [
            {"title": plain(r.runbook.name, limit=80), "value": plain(progress_line(r, zone), limit=400)} for r in runs]})
    elif incident_id:
        body.append(_text("No runbook has been run for this incident yet. Say `runbook ID` to start one.",
                          isSubtle=True))
    else:
        body.append(_text("Say `runbook ID` in an incident's chat to start one there.", isSubtle=True))
    return _card(body, [])
