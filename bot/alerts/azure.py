"""Azure Monitor's common alert schema (`schemaId: "azureMonitorCommonAlertSchema"`) as an
`AlertBatch` of one alert.

Every kind of Azure alert (metric, log search V1 and V2, activity log, service health, resource
health, smart detection, cost budgets) shares `data.essentials`, which carries everything we
route on; `data.alertContext` differs by kind, so we read it generically: its scalars (and
those of its first criterion and its `properties`) become annotations, and its log search
link becomes a link. `alertId` is stable across retries and from Fired to Resolved, so it is
the dedup key. Azure sends one alert per request and has no groups.

Payloads in another schema (the older metric, log and activity log webhooks, budget
notifications with `schemaId: "AIP Budget Notification"`) are refused with 422 and the
setting that fixes them, rather than half-read.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from bot.alerts import fields
from bot.alerts.fields import invalid, scalar_text, text
from bot.alerts.model import FIRING, RESOLVED, Alert, AlertBatch, Link

SCHEMA_ID = "azureMonitorCommonAlertSchema"
CONDITIONS = {"Fired": FIRING, "Resolved": RESOLVED}
# The Azure portal's own "copy link" format for one alert instance.
PORTAL_ALERT_URL = (
    "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts"
    "/AlertDetails.ReactView/alertId~/"
)
ESSENTIALS = "data.essentials"
# Nested alertContext objects whose scalars are worth showing: activity log `properties`,
# cost alerts' `AlertData`, Prometheus rule `labels`/`annotations`.
CONTEXT_SECTIONS = ("properties", "AlertData", "annotations", "labels")
SKIPPED_CONTEXT = frozenset({"claims"})  # the caller's token claims: noise on a card
SEARCH_LINKS = ("linkToFilteredSearchResultsUI", "linkToSearchResultsUI", "LinkToSearchResults")
# monitoringService values that name the activity log category themselves.
CATEGORY_BY_SERVICE = {"servicehealth": "ServiceHealth", "resourcehealth": "ResourceHealth"}
ACTIVITY_LOG_SERVICE = re.compile(r"\s*activity\s*log\s*[-:]?\s*(.*)", re.IGNORECASE | re.DOTALL)
RESOURCE_GROUP = re.compile(r"/resourcegroups/([^/]+)", re.IGNORECASE)
SUBSCRIPTION = re.compile(r"/subscriptions/([^/]+)", re.IGNORECASE)


def parse_azure_monitor(doc: dict) -> AlertBatch:
    check_schema(doc)
    data = fields.obj(doc.get("data"), "data")
    essentials = fields.obj(data.get("essentials"), ESSENTIALS)
    context = fields.member(data, "alertContext", "data") or {}
    custom = fields.member(data, "customProperties", "data") or {}

    alert_id = text(
        essentials, "alertId", path=ESSENTIALS, required=True,
        fix="send the alert instance's resource id, as Azure Monitor does",
    ) or ""
    alert_id = alert_id.strip()
    rule = text(essentials, "alertRule", path=ESSENTIALS)
    severity = fields.severity(text(essentials, "severity", path=ESSENTIALS))
    description = text(essentials, "description", path=ESSENTIALS, max_len=fields.DESCRIPTION_MAX)
    # Cost alerts send a null monitorCondition: they fire and never resolve.
    status = fields.choice(essentials, "monitorCondition", CONDITIONS, path=ESSENTIALS) or FIRING
    links: list[Link] = []
    fields.add_link(links, "Azure portal", PORTAL_ALERT_URL + quote(alert_id, safe=""))
    fields.add_link(links, "Log search results", search_link(context))
    title = next(c for c in (rule, budget_title(context), description, alert_id) if c and c.strip())
    alert = Alert(
        dedup_key=fields.bounded_key(alert_id),
        status=status,  # type: ignore[arg-type]  # one of CONDITIONS' values
        title=fields.one_line(title),
        labels=essentials_labels(essentials, alert_id, rule, severity, context),
        annotations=context_annotations(context, custom),
        severity=severity,
        description=description or "",
        starts_at=fields.timestamp(essentials, "firedDateTime", path=ESSENTIALS),
        ends_at=fields.timestamp(essentials, "resolvedDateTime", path=ESSENTIALS),
        links=tuple(links),
    )
    return AlertBatch(source="azure_monitor", alerts=(alert,))


def check_schema(doc: dict) -> None:
    schema_id = doc.get("schemaId")
    if isinstance(schema_id, str) and schema_id.strip().casefold() == SCHEMA_ID.casefold():
        return
    if schema_id is None:
        seen = "has no schemaId"
    elif isinstance(schema_id, str):
        seen = f"has schemaId {fields.shown(schema_id)}"
    else:
        seen = f"has a schemaId that is {fields.kind(schema_id)}"
    raise invalid(
        "schemaId",
        f"this integration takes the Azure Monitor common alert schema ({SCHEMA_ID}), "
        f"and this payload {seen}",
        'in the action group, edit this webhook action and turn on "Enable the common alert '
        'schema"',
        status=422,
    )


def essentials_labels(
    essentials: dict, alert_id: str, rule: str | None, severity: str | None, context: dict
) -> dict[str, str]:
    targets = target_ids(essentials)
    service = text(essentials, "monitoringService", path=ESSENTIALS)
    signal_type = text(essentials, "signalType", path=ESSENTIALS)
    segments = [s for s in targets[0].split("/") if s] if targets else []
    found = {
        "severity": severity,
        "signal_type": signal_type,
        "monitoring_service": service,
        "alert_rule": rule,
        "resource_group": first_match(RESOURCE_GROUP, targets),
        "resource": segments[-1] if segments else None,
        "subscription": first_match(SUBSCRIPTION, [*targets[:1], alert_id]),
        "category": category(service, signal_type, context),
    }
    labels: dict[str, str] = {}
    for key, value in found.items():
        if value is not None and value.strip():
            fields.put(labels, key, value.strip())
    return labels


def first_match(pattern: re.Pattern[str], candidates: list[str]) -> str | None:
    return next((m.group(1) for c in candidates if (m := pattern.search(c))), None)


def target_ids(essentials: dict) -> list[str]:
    path = fields.at(ESSENTIALS, "alertTargetIDs")
    ids = []
    for index, value in enumerate(fields.array(essentials, "alertTargetIDs", path=ESSENTIALS)):
        if not isinstance(value, str):
            raise fields.wrong_type(fields.item(path, index), "a string", value)
        ids.append(value)
    return ids


def category(service: str | None, signal_type: str | None, context: dict) -> str | None:
    """The activity log category: from monitoringService (`Activity Log - Security`,
    `ActivityLog Administrative`, `ServiceHealth`, `Resource Health`), else from the event's
    own `eventSource` / `properties.eventCategory`. None for alerts not from the activity log."""
    compact = re.sub(r"[\s_-]", "", service or "").casefold()
    if compact in CATEGORY_BY_SERVICE:
        return CATEGORY_BY_SERVICE[compact]
    from_log = compact.startswith("activitylog")
    if from_log:
        match = ACTIVITY_LOG_SERVICE.fullmatch(service or "")
        named = match.group(1).strip() if match else ""
        if named:
            return named
    if not from_log and re.sub(r"\s", "", signal_type or "").casefold() != "activitylog":
        return None
    properties = context.get("properties")
    for value in (
        context.get("eventSource"),
        properties.get("eventCategory") if isinstance(properties, dict) else None,
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def first_criterion(context: dict) -> dict:
    condition = context.get("condition")
    criteria = condition.get("allOf") if isinstance(condition, dict) else None
    first = criteria[0] if isinstance(criteria, list) and criteria else None
    return first if isinstance(first, dict) else {}


def context_annotations(context: dict, custom: dict) -> dict[str, str]:
    """Scalars worth a glance: the first criterion's (metricName, metricValue, threshold,
    operator, searchQuery...), the condition's window, the context's own (SearchQuery,
    operationName, caller...), its nested sections', then customProperties. First seen wins."""
    criterion = first_criterion(context)
    condition = context.get("condition")
    sections = [context.get(name) for name in CONTEXT_SECTIONS]
    notes: dict[str, str] = {}
    for source in (criterion, condition, context, *sections, custom):
        if not isinstance(source, dict):
            continue
        for key, value in source.items():
            shown = scalar_text(value)
            if key not in SKIPPED_CONTEXT and shown is not None and shown.strip():
                fields.put(notes, key, shown, value_max=fields.ANNOTATION_VALUE_MAX,
                           overwrite=False)
    dimensions = dimension_text(criterion.get("dimensions") or context.get("Dimensions"))
    if dimensions:
        fields.put(notes, "dimensions", dimensions, value_max=fields.ANNOTATION_VALUE_MAX,
                   overwrite=False)
    return notes


def dimension_text(dimensions: object) -> str:
    """`[{"name": "Computer", "value": "vm1"}]` as `Computer=vm1`, comma-separated."""
    if not isinstance(dimensions, list):
        return ""
    pairs = []
    for entry in dimensions:
        if isinstance(entry, dict):
            name, value = scalar_text(entry.get("name")), scalar_text(entry.get("value"))
            if name is not None and value is not None:
                pairs.append(f"{name}={value}")
    return ", ".join(pairs)


def search_link(context: dict) -> str | None:
    """The portal link to the log search results (V2 puts it in the criterion, V1 in the
    context itself, with a capital L); the filtered view first."""
    criterion = first_criterion(context)
    for name in SEARCH_LINKS:
        for source in (criterion, context):
            value = lookup(source, name)
            if isinstance(value, str) and value.strip():
                return value
    return None


def lookup(mapping: dict, name: str) -> object:
    """`mapping[name]`, the key compared case-insensitively (Azure spells it both ways)."""
    folded = name.casefold()
    matches = (v for k, v in mapping.items() if isinstance(k, str) and k.casefold() == folded)
    return next(matches, None)


def budget_title(context: dict) -> str | None:
    """Cost alerts have no alertRule; they name their budget instead."""
    data = context.get("AlertData")
    name = data.get("BudgetName") if isinstance(data, dict) else None
    return f"Budget {name}" if isinstance(name, str) and name.strip() else None
