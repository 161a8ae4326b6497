"""The alert section of an incident's card: counts, the telling labels, links back. Loaded
with every incident view, so it is two small queries, and nothing for an incident no alert
opened. They are Core statements over `storage.alert_tables`, built once: the ORM classes of
the alert rows (`storage.alerts`) load only with the first webhook or alert command, so an
incident view does not bring them into an idle process."""
from __future__ import annotations

import json

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import FIRING, RESOLVED, Link
from bot.domain.model import AlertSummary
from storage.alert_tables import alert, alert_group

TOP_LABELS = ("alertname", "service", "severity", "instance", "resource", "resource_group", "signal_type", "category")

_GROUPS = (select(alert_group.c.id, alert_group.c.flapping_since)
           .where(alert_group.c.incident_id == bindparam("incident_id")).order_by(alert_group.c.id))
_ALERTS = (select(alert.c.status, alert.c.labels_json, alert.c.links_json, alert.c.payload_id)
           .where(alert.c.group_id.in_(bindparam("group_ids", expanding=True)))
           .order_by(alert.c.group_id, alert.c.id))  # group by group, oldest first: the order of the links


async def summary(session: AsyncSession, incident_id: int) -> AlertSummary | None:
    """The card's alert section, or None for an incident no alert opened."""
    groups = (await session.execute(_GROUPS, {"incident_id": incident_id})).all()
    if not groups:
        return None
    alerts = (await session.execute(_ALERTS, {"group_ids": [g.id for g in groups]})).all()
    firing = [a for a in alerts if a.status == FIRING]
    labelled = [json.loads(a.labels_json) for a in (firing or alerts)]
    shared = {k: v for k, v in labelled[0].items() if all(other.get(k) == v for other in labelled[1:])} if labelled else {}
    top = tuple((k, shared[k]) for k in TOP_LABELS if k in shared)[:4]
    links: list[Link] = []
    for a in alerts:
        for raw in json.loads(a.links_json):
            link = Link(str(raw.get("title") or "Source"), str(raw.get("url") or ""))
            if link.url and link.url not in {seen.url for seen in links}:
                links.append(link)
    payloads = [a.payload_id for a in alerts if a.payload_id is not None]
    return AlertSummary(firing=len(firing), resolved=sum(1 for a in alerts if a.status == RESOLVED), groups=len(groups),
                        labels=top, links=tuple(links[:3]), flapping=any(g.flapping_since for g in groups),
                        payload_id=max(payloads) if payloads else None)
