"""The alert section of an incident's card: counts, the telling labels, links back. Loaded
with every incident view, so it is two small queries, and nothing for an incident no alert
opened."""
from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import FIRING, RESOLVED, Link
from bot.domain.model import AlertSummary
from storage import alert_store as store

TOP_LABELS = ("alertname", "service", "severity", "instance", "resource", "resource_group", "signal_type", "category")


async def summary(session: AsyncSession, incident_id: int) -> AlertSummary | None:
    """The card's alert section, or None for an incident no alert opened."""
    groups = await store.groups_of_incident(session, incident_id)
    if not groups:
        return None
    alerts = [a for _group, group_alerts in groups for a in group_alerts]
    firing = [a for a in alerts if a.status == FIRING]
    labelled = [json.loads(a.labels_json) for a in (firing or alerts)]
    shared = {k: v for k, v in labelled[0].items() if all(other.get(k) == v for other in labelled[1:])} if labelled else {}
    top = tuple((k, shared[k]) for k in TOP_LABELS if k in shared)[:4]
    links: list[Link] = []
    for alert in alerts:
        for raw in json.loads(alert.links_json):
            link = Link(str(raw.get("title") or "Source"), str(raw.get("url") or ""))
            if link.url and link.url not in {seen.url for seen in links}:
                links.append(link)
    payloads = [a.payload_id for a in alerts if a.payload_id is not None]
    return AlertSummary(firing=len(firing), resolved=sum(1 for a in alerts if a.status == RESOLVED), groups=len(groups),
                        labels=top, links=tuple(links[:3]), flapping=any(g.flapping_since for g, _ in groups),
                        payload_id=max(payloads) if payloads else None)
