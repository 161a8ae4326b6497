"""The alert parsers on real payloads (shared fixtures) and on documented shapes built here."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.model import SOURCES, AlertBatch, AlertPayloadInvalid, Link
from bot.alerts.parse import parse, parse_document
from tests.support import FIXTURES

ALERTS = FIXTURES / "alerts"
PORTAL = (
    "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView"
    "/alertId~/"
)
SUB = "11111111-1111-1111-1111-111111111111"
TEST_ALERT_ID = (
    f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/"
    "12345678-1234-1234-1234-1234567890ab"
)
TEST_ALERT_PORTAL = (
    PORTAL + f"%2Fsubscriptions%2F{SUB}%2Fproviders%2FMicrosoft.AlertsManagement%2Falerts"
    "%2F12345678-1234-1234-1234-1234567890ab"
)
HIGH_LATENCY_GROUP = '{}:{alertname="HighLatency", service="checkout"}'
STARTED = datetime(2026, 11, 29, 5, 34, 15, 31187, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((ALERTS / name).read_text())


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def rejected(source: str, document: object, *, status: int = 400) -> str:
    """The message of the AlertPayloadInvalid that parsing `document` raises."""
    with pytest.raises(AlertPayloadInvalid) as caught:
        parse(source, encode(document))
    assert caught.value.status == status, str(caught.value)
    return str(caught.value)


# --- every fixture file -------------------------------------------------------------------

def test_every_fixture_file_has_a_test_here():
    assert sorted(p.name for p in ALERTS.glob("*.json")) == sorted(FIXTURE_TESTS)


def check_am_firing_group(batch: AlertBatch) -> None:
    assert batch.source == "alertmanager"
    assert batch.group_key == HIGH_LATENCY_GROUP
    assert batch.group_labels == {"alertname": "HighLatency", "service": "checkout"}
    assert batch.common_labels == {
        "alertname": "HighLatency", "service": "checkout", "severity": "critical"
    }
    assert batch.truncated == 0
    assert batch.external_url == "http://127.0.0.1:9093"
    assert batch.title is None
    assert [a.dedup_key for a in batch.alerts] == [
        "6bb710ed11b2b558", "85f15ddb216eb399", "6789bd0019445ff2"
    ]
    assert [a.status for a in batch.alerts] == ["firing"] * 3
    first = batch.alerts[0]
    assert first.title == "HighLatency: HighLatency on checkout/web-1"
    assert first.severity == "critical"
    assert first.labels == {
        "alertname": "HighLatency", "instance": "web-1", "service": "checkout",
        "severity": "critical",
    }
    assert first.annotations == {
        "runbook_url": "https://runbooks.example.invalid/HighLatency",
        "summary": "HighLatency on checkout/web-1",
    }
    assert first.description == ""
    assert first.starts_at == STARTED
    assert first.ends_at is None  # 0001-01-01T00:00:00Z, Alertmanager's "not ended"
    assert first.links == (
        Link("Source", "http://127.0.0.1:9090/graph?g0.expr=HighLatency"),
        Link("Runbook", "https://runbooks.example.invalid/HighLatency"),
    )


def check_am_resolved_group(batch: AlertBatch) -> None:
    assert batch.group_key == HIGH_LATENCY_GROUP  # the same group as the firing notification
    assert [a.dedup_key for a in batch.alerts] == ["85f15ddb216eb399", "6789bd0019445ff2"]
    assert [a.status for a in batch.alerts] == ["resolved", "resolved"]
    ended = datetime(2026, 11, 29, 5, 34, 29, 86089, tzinfo=UTC)
    assert [(a.starts_at, a.ends_at) for a in batch.alerts] == [(STARTED, ended)] * 2
    assert batch.alerts[1].title == "HighLatency: HighLatency on checkout/web-3"


def check_am_diskfull(batch: AlertBatch) -> None:
    assert batch.group_key == '{}:{alertname="DiskFull", service="checkout"}'
    (alert,) = batch.alerts
    assert alert.dedup_key == "f4a46eb935dfd793"
    assert (alert.status, alert.severity) == ("firing", "warning")
    assert alert.title == "DiskFull: DiskFull on checkout/db-1"
    assert alert.labels["instance"] == "db-1"
    assert [link.title for link in alert.links] == ["Source", "Runbook"]


def check_azure_metric_fired(batch: AlertBatch) -> None:
    assert batch.source == "azure_monitor"
    assert batch.group_key is None
    (alert,) = batch.alerts
    assert alert.dedup_key == TEST_ALERT_ID
    assert alert.status == "firing"
    assert alert.severity == "sev3"
    assert alert.title == "test-metricAlertRule"
    assert alert.description == "Alert rule description"
    assert alert.labels == {
        "severity": "sev3", "signal_type": "Metric", "monitoring_service": "Platform",
        "alert_rule": "test-metricAlertRule", "resource_group": "test-RG",
        "resource": "test-storageAccount", "subscription": SUB,
    }
    shown = ("metricName", "metricValue", "threshold", "operator")
    assert {k: alert.annotations[k] for k in shown} == {
        "metricName": "Transactions", "metricValue": "78.09", "threshold": "0.3",
        "operator": "GreaterThan",
    }
    assert alert.annotations["customKey1"] == "value1"
    assert alert.starts_at == datetime(2021, 11, 15, 9, 35, 24, 346850, tzinfo=UTC)  # 7 digits sent
    assert alert.ends_at is None
    assert alert.links == (Link("Azure portal", TEST_ALERT_PORTAL),)


def check_azure_metric_resolved(batch: AlertBatch) -> None:
    (alert,) = batch.alerts
    assert alert.dedup_key == (
        "/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/"
        "b9569717-bc32-442f-add5-83a997729330"
    )
    assert alert.status == "resolved"
    assert alert.title == "WCUS-R2-Gen2"
    assert alert.description == ""
    assert alert.labels["resource_group"] == "pipelinealertrg"
    assert alert.labels["resource"] == "wcus-r2-gen2"
    assert alert.labels["subscription"] == "<subscription ID>"
    assert alert.starts_at == datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)
    assert alert.ends_at == datetime(2019, 3, 22, 14, 3, 16, 224631, tzinfo=UTC)
    assert alert.annotations["metricName"] == "Percentage CPU"
    assert alert.annotations["dimensions"] == "ResourceId=3efad9dc-3d50-4eac-9c87-8b3fd6f97e4e"
    assert alert.links[0].url.endswith("%2Fsubscriptions%2F%3Csubscription%20ID%3E%2Fproviders"
                                       "%2FMicrosoft.AlertsManagement%2Falerts"
                                       "%2Fb9569717-bc32-442f-add5-83a997729330")


def check_azure_log_search_v2(batch: AlertBatch) -> None:
    (alert,) = batch.alerts
    assert alert.title == "test-logAlertRule-v2"
    assert alert.labels["signal_type"] == "Log"
    assert alert.labels["monitoring_service"] == "Log Alerts V2"
    assert alert.labels["resource"] == "test-logAnalyticsWorkspace"
    assert "category" not in alert.labels
    assert alert.annotations["searchQuery"] == "Heartbeat"
    assert alert.annotations["metricValue"] == "3.0"
    assert alert.annotations["dimensions"] == "Computer=test-computer"
    assert [link.title for link in alert.links] == ["Azure portal", "Log search results"]
    assert alert.links[1].url == load("azure-commonschema-logsearch-v2-testaction.json")["data"][
        "alertContext"]["condition"]["allOf"][0]["linkToFilteredSearchResultsUI"]


def check_azure_activity_log(batch: AlertBatch) -> None:
    (alert,) = batch.alerts
    assert alert.severity == "sev4"
    assert alert.labels == {
        "severity": "sev4", "signal_type": "Activity Log",
        "monitoring_service": "Activity Log - Administrative",
        "alert_rule": "test-activityLogAlertRule", "resource_group": "test-RG",
        "resource": "test-VM", "subscription": SUB, "category": "Administrative",
    }
    assert alert.annotations["operationName"] == "Microsoft.Compute/virtualMachines/restart/action"
    assert alert.annotations["caller"] == "user-email@domain.com"
    assert "claims" not in alert.annotations
    assert alert.starts_at == datetime(2021, 11, 16, 8, 29, 1, 293246, tzinfo=UTC)


def rejects_api_v2_post(name: str) -> None:
    for source in SOURCES:  # a body for Alertmanager's own API, not a webhook: an array
        with pytest.raises(AlertPayloadInvalid, match="the body is an array, not a JSON object"):
            parse(source, (ALERTS / name).read_bytes())


FIXTURE_TESTS = {
    "alertmanager-firing-group-3alerts.json": ("alertmanager", check_am_firing_group),
    "alertmanager-resolved-group.json": ("alertmanager", check_am_resolved_group),
    "alertmanager-firing-single-diskfull.json": ("alertmanager", check_am_diskfull),
    "azure-commonschema-metric-testaction-fired.json": ("azure_monitor", check_azure_metric_fired),
    "azure-commonschema-metric-static-resolved.json": (
        "azure_monitor", check_azure_metric_resolved
    ),
    "azure-commonschema-logsearch-v2-testaction.json": ("azure_monitor", check_azure_log_search_v2),
    "azure-commonschema-activitylog-administrative-testaction.json": (
        "azure_monitor", check_azure_activity_log
    ),
    "alertmanager-api-v2-post-request.json": (None, rejects_api_v2_post),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_TESTS))
def test_fixture(name):
    source, check = FIXTURE_TESTS[name]
    if source is None:
        check(name)
    else:
        check(parse(source, (ALERTS / name).read_bytes()))


# --- Alertmanager -------------------------------------------------------------------------

def test_a_partially_resolved_group_keeps_each_alerts_own_status():
    doc = load("alertmanager-firing-group-3alerts.json")
    doc["alerts"][1]["status"] = "resolved"
    doc["alerts"][1]["endsAt"] = "2026-11-29T05:40:00.5Z"
    assert doc["status"] == "firing"
    batch = parse("alertmanager", encode(doc))
    assert [a.status for a in batch.alerts] == ["firing", "resolved", "firing"]
    assert [a.ends_at for a in batch.alerts] == [
        None, datetime(2026, 11, 29, 5, 40, 0, 500000, tzinfo=UTC), None
    ]


def test_the_zero_time_is_no_time_for_starts_at_too():
    doc = load("alertmanager-firing-single-diskfull.json")
    doc["alerts"][0]["startsAt"] = "0001-01-01T00:00:00Z"
    assert parse("alertmanager", encode(doc)).alerts[0].starts_at is None


def test_truncated_alerts_is_reported():
    doc = load("alertmanager-firing-group-3alerts.json")
    doc["truncatedAlerts"] = 7
    assert parse("alertmanager", encode(doc)).truncated == 7
    doc["truncatedAlerts"] = -1
    assert rejected("alertmanager", doc).startswith("truncatedAlerts: is negative")
    doc["truncatedAlerts"] = "7"
    assert rejected("alertmanager", doc) == (
        "truncatedAlerts: expected a whole number, got a string; send a whole number here"
    )


def test_without_a_fingerprint_the_dedup_key_is_a_hash_of_the_sorted_labels():
    doc = load("alertmanager-firing-single-diskfull.json")
    del doc["alerts"][0]["fingerprint"]
    key = parse("alertmanager", encode(doc)).alerts[0].dedup_key
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    doc["alerts"][0]["labels"] = dict(reversed(list(doc["alerts"][0]["labels"].items())))
    assert parse("alertmanager", encode(doc)).alerts[0].dedup_key == key  # order does not matter
    doc["alerts"][0]["labels"]["instance"] = "db-2"
    assert parse("alertmanager", encode(doc)).alerts[0].dedup_key != key


def test_a_label_that_is_not_a_string_is_named_by_its_path():
    doc = load("alertmanager-firing-group-3alerts.json")
    doc["alerts"][2]["labels"]["service"] = 42
    assert rejected("alertmanager", doc) == (
        "alerts[2].labels.service: expected a string, got a number; send a string here"
    )


def test_an_unknown_status_is_refused_with_the_values_that_work():
    doc = load("alertmanager-firing-group-3alerts.json")
    doc["alerts"][0]["status"] = "pending"
    assert rejected("alertmanager", doc) == (
        'alerts[0].status: unknown value "pending"; send "firing" or "resolved"'
    )


def test_an_invalid_time_is_refused_with_an_example():
    doc = load("alertmanager-firing-group-3alerts.json")
    doc["alerts"][1]["startsAt"] = "yesterday"
    assert rejected("alertmanager", doc) == (
        'alerts[1].startsAt: "yesterday" is not a date and time; '
        "send an RFC 3339 time such as 2026-11-29T05:34:15Z"
    )


def test_sizes_are_bounded():
    doc = load("alertmanager-firing-single-diskfull.json")
    alert = doc["alerts"][0]
    alert["labels"].update({f"extra{i:03}": "x" for i in range(150)})
    alert["labels"]["alertname"] = "A" * 500
    alert["labels"]["instance"] = "v" * 5000
    parsed = parse("alertmanager", encode(doc)).alerts[0]
    assert len(parsed.labels) == 100
    assert len(parsed.labels["instance"]) == 1000 and parsed.labels["instance"].endswith("…")
    assert len(parsed.title) == 300


def test_more_than_a_thousand_alerts_is_413_with_the_setting_that_fixes_it():
    doc = load("alertmanager-firing-single-diskfull.json")
    doc["alerts"] = doc["alerts"] * 1001
    message = rejected("alertmanager", doc, status=413)
    assert message.startswith("alerts: 1001 alerts in one body, at most 1000 are taken")
    assert "max_alerts" in message
    doc["alerts"] = doc["alerts"][:1000]
    assert len(parse("alertmanager", encode(doc)).alerts) == 1000


def test_an_empty_alerts_array_is_refused():
    doc = load("alertmanager-firing-single-diskfull.json")
    doc["alerts"] = []
    assert rejected("alertmanager", doc) == "alerts: is empty; send at least one alert"


def test_a_grafana_body_sent_to_an_alertmanager_integration_is_422():
    doc = load("alertmanager-firing-single-diskfull.json")
    doc["version"] = "1"
    assert "Grafana integration" in rejected("alertmanager", doc, status=422)


def test_unknown_fields_are_ignored():
    doc = load("alertmanager-firing-single-diskfull.json")
    doc["somethingNew"] = {"x": [1, 2]}
    doc["alerts"][0]["alsoNew"] = None
    assert parse("alertmanager", encode(doc)).alerts[0].dedup_key == "f4a46eb935dfd793"


# --- Grafana ------------------------------------------------------------------------------

def grafana_payload() -> dict:
    """Grafana's webhook contact point body, as its documentation shows it."""
    return {
        "receiver": "My Super Webhook",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1",
                           "severity": "Warning"},
                "annotations": {"description": "The system has high memory usage",
                                "runbook_url": "https://myrunbook.com/runbook/1234",
                                "summary": "This alert was triggered for zone us-1"},
                "startsAt": "2021-10-12T09:51:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://play.grafana.org/alerting/silence/new?matchers=zone%3Dus-1",
                "dashboardURL": "https://play.grafana.org/d/abc",
                "panelURL": "https://play.grafana.org/d/abc?viewPanel=2",
                "values": {"B": 44.23943737541908, "C": 1},
                "valueString": "[ var='B' labels={zone=us-1} value=44.23943737541908 ]",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
                "annotations": {},
                "startsAt": "2021-10-12T09:56:03.157076+02:00",
                "endsAt": "2021-10-12T10:01:03.157076+02:00",
                "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
                "fingerprint": "bc97ff14869b13e3",
                "silenceURL": "https://play.grafana.org/alerting/silence/new?matchers=zone%3Deu-1",
                "dashboardURL": "",
                "panelURL": "",
                "values": None,
                "valueString": "",
            },
        ],
        "groupLabels": {},
        "commonLabels": {"team": "blue"},
        "commonAnnotations": {},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1, RESOLVED:1]  (blue)",
        "state": "alerting",
        "message": "**Firing**\n\nLabels:\n - alertname = High memory usage\n",
    }


def test_grafana_reads_the_alertmanager_envelope_and_its_own_fields():
    batch = parse("grafana", encode(grafana_payload()))
    assert batch.source == "grafana"
    assert batch.group_key == "{}:{}"
    assert batch.title == "[FIRING:1, RESOLVED:1] (blue)"
    assert batch.common_labels == {"team": "blue"}
    assert batch.external_url == "https://play.grafana.org/"
    firing, resolved = batch.alerts
    assert (firing.dedup_key, firing.status) == ("c6eadffa33fcdf37", "firing")
    assert (resolved.dedup_key, resolved.status) == ("bc97ff14869b13e3", "resolved")  # not `state`
    assert firing.title == "High memory usage: This alert was triggered for zone us-1"
    assert firing.severity == "warning"
    assert firing.description == "The system has high memory usage"
    assert firing.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert firing.ends_at is None
    assert firing.annotations["values"] == '{"B":44.23943737541908,"C":1}'
    assert firing.annotations["valueString"].startswith("[ var='B'")
    assert firing.links == (
        Link("Source", "https://play.grafana.org/alerting/1afz29v7z/edit"),
        Link("Runbook", "https://myrunbook.com/runbook/1234"),
        Link("Dashboard", "https://play.grafana.org/d/abc"),
        Link("Panel", "https://play.grafana.org/d/abc?viewPanel=2"),
        Link("Silence", "https://play.grafana.org/alerting/silence/new?matchers=zone%3Dus-1"),
    )
    assert [link.title for link in resolved.links] == ["Source", "Silence"]  # empty URLs skipped
    assert resolved.title == "High CPU usage"
    assert resolved.ends_at == datetime(2021, 10, 12, 8, 1, 3, 157076, tzinfo=UTC)
    assert "values" not in resolved.annotations


def test_grafana_refuses_an_alertmanager_body_with_422():
    doc = grafana_payload()
    doc["version"] = "4"
    assert "Alertmanager integration" in rejected("grafana", doc, status=422)


def test_grafana_values_must_be_an_object():
    doc = grafana_payload()
    doc["alerts"][0]["values"] = [1, 2]
    assert rejected("grafana", doc) == (
        "alerts[0].values: expected an object, got an array; send an object here"
    )


# --- Azure Monitor ------------------------------------------------------------------------

def azure(essentials: dict, context: dict | None = None) -> dict:
    base = {
        "alertId": TEST_ALERT_ID,
        "alertRule": "test-rule",
        "severity": "Sev4",
        "signalType": "Activity Log",
        "monitorCondition": "Fired",
        "monitoringService": "Activity Log - Administrative",
        "alertTargetIDs": [
            (f"/subscriptions/{SUB}/resourcegroups/test-RG/providers/microsoft.compute"
             "/virtualmachines/test-VM")
        ],
        "firedDateTime": "2021-11-16T09:54:08.9938123Z",
        "description": "Alert rule description",
    }
    base.update(essentials)
    return {"schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": base, "alertContext": context or {}}}


def azure_alert(essentials: dict, context: dict | None = None):
    (alert,) = parse("azure_monitor", encode(azure(essentials, context))).alerts
    return alert


def test_azure_alert_id_is_the_same_key_from_fired_to_resolved():
    fired = load("azure-commonschema-metric-testaction-fired.json")
    resolved = copy.deepcopy(fired)
    resolved["data"]["essentials"]["monitorCondition"] = "Resolved"
    resolved["data"]["essentials"]["resolvedDateTime"] = "2021-11-15T09:40:24.1234567Z"
    first = parse("azure_monitor", encode(fired)).alerts[0]
    second = parse("azure_monitor", encode(resolved)).alerts[0]
    assert first.dedup_key == second.dedup_key == TEST_ALERT_ID
    assert (first.status, second.status) == ("firing", "resolved")
    assert second.ends_at == datetime(2021, 11, 15, 9, 40, 24, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "document, seen",
    [
        ({"schemaId": "AIP Budget Notification", "data": {"SubscriptionName": "test-subscription",
          "BudgetName": "test-budgetName", "SpendingAmount": "1111.32"}},
         'has schemaId "AIP Budget Notification"'),
        ({"schemaId": "AzureMonitorMetricAlert", "data": {"version": "2.0", "status": "Activated",
          "context": {"name": "test-metricAlertRule", "severity": "3"}}},
         'has schemaId "AzureMonitorMetricAlert"'),
        ({"status": "Activated", "context": {"id": "/subscriptions/x/resourceGroups/rg/providers/"
          "microsoft.insights/alertrules/cpu", "name": "cpu", "conditionType": "Metric"}},
         "has no schemaId"),
        ({"schemaId": 7, "data": {}}, "has a schemaId that is a number"),
    ],
)
def test_azure_payloads_outside_the_common_schema_are_422_with_the_fix(document, seen):
    assert rejected("azure_monitor", document, status=422) == (
        "schemaId: this integration takes the Azure Monitor common alert schema "
        f"(azureMonitorCommonAlertSchema), and this payload {seen}; in the action group, edit "
        'this webhook action and turn on "Enable the common alert schema"'
    )


def test_azure_service_health():
    alert = azure_alert(
        {"alertRule": "test-ServiceHealthAlertRule", "monitoringService": "ServiceHealth",
         "alertTargetIDs": [f"/subscriptions/{SUB}"],
         "firedDateTime": "2021-11-17T05:34:48.0623172"},  # as sent: no zone, 7 digits
        {"channels": 1, "eventSource": 2, "level": 3, "claims": None,
         "operationName": "Microsoft.ServiceHealth/incident/action",
         "properties": {"title": "Test Service Health Alert", "service": "Azure Service Name",
                        "region": "Global", "incidentType": "Incident", "trackingId": "ABC1-DEF",
                        "stage": "Resolved", "isHIR": "false"}},
    )
    assert alert.labels["category"] == "ServiceHealth"
    assert alert.labels["resource"] == SUB
    assert alert.labels["subscription"] == SUB
    assert "resource_group" not in alert.labels
    assert alert.starts_at == datetime(2021, 11, 17, 5, 34, 48, 62317, tzinfo=UTC)
    assert alert.annotations["trackingId"] == "ABC1-DEF"
    assert alert.annotations["level"] == "3"
    assert alert.annotations["title"] == "Test Service Health Alert"


@pytest.mark.parametrize(
    "service, context, expected",
    [
        ("Resource Health", {"eventSource": "ResourceHealth"}, "ResourceHealth"),
        ("Activity Log - Security", {"eventSource": "Security"}, "Security"),
        ("ActivityLog Security", {}, "Security"),
        ("ActivityLog Administrative", {}, "Administrative"),
        ("Activity Log - Policy", {"eventSource": "Policy"}, "Policy"),
        ("Activity Log", {"eventSource": "Autoscale"}, "Autoscale"),
        ("Activity Log", {"properties": {"eventCategory": "Recommendation"}}, "Recommendation"),
    ],
)
def test_azure_activity_log_category(service, context, expected):
    assert azure_alert({"monitoringService": service}, context).labels["category"] == expected


def test_azure_resource_health_annotations():
    alert = azure_alert(
        {"monitoringService": "Resource Health"},
        {"eventSource": "ResourceHealth", "status": "Active",
         "properties": {"title": "Rebooted by user", "details": None,
                        "currentHealthStatus": "Unavailable", "previousHealthStatus": "Available",
                        "type": "Downtime", "cause": "UserInitiated"}},
    )
    assert alert.annotations["currentHealthStatus"] == "Unavailable"
    assert "details" not in alert.annotations  # null
    assert alert.title == "test-rule"


def test_azure_log_search_v1_link_and_query():
    alert = azure_alert(
        {"signalType": "Log", "monitoringService": "Log Analytics", "severity": "Sev1"},
        {"SearchQuery": "Heartbeat", "ResultCount": 2, "Threshold": 0, "Operator": "Greater Than",
         "LinkToSearchResults": "https://portal.azure.com#@t/blade/Logs/q/unfiltered",
         "LinkToFilteredSearchResultsUI": "https://portal.azure.com#@t/blade/Logs/q/filtered",
         "LinkToSearchResultsAPI": "https://api.loganalytics.io/v1/workspaces/w/query?q=1",
         "Dimensions": [{"name": "Computer", "value": "vm1"}],
         "SearchResults": {"tables": []}, "IncludedSearchResults": "True"},
    )
    assert alert.severity == "sev1"
    assert "category" not in alert.labels
    assert alert.annotations["SearchQuery"] == "Heartbeat"
    assert alert.annotations["ResultCount"] == "2"
    assert alert.annotations["dimensions"] == "Computer=vm1"
    assert "SearchResults" not in alert.annotations
    assert alert.links[1] == Link("Log search results",
                                  "https://portal.azure.com#@t/blade/Logs/q/filtered")


def test_azure_smart_detection():
    alert = azure_alert(
        {"alertRule": "Dependency Latency Degradation - test-applicationInsights",
         "signalType": "Log", "monitoringService": "SmartDetector", "severity": "Sev3",
         "alertTargetIDs": [(f"/subscriptions/{SUB}/resourcegroups/test-RG/providers/"
                             "microsoft.insights/components/test-applicationInsights")]},
        {"DetectionSummary": "A degradation in the dependency duration over the last 24 hours",
         "DetectedValue": "0.45 sec",
         "SmartDetectorId": "DependencyPerformanceDegradationDetector"},
    )
    assert alert.title == "Dependency Latency Degradation - test-applicationInsights"
    assert alert.labels["resource"] == "test-applicationInsights"
    assert alert.annotations["DetectedValue"] == "0.45 sec"


def test_azure_cost_budget_in_the_common_schema():
    alert = azure_alert(
        {"monitoringService": "CostAlerts", "alertRule": None, "severity": None,
         "signalType": None, "monitorCondition": None, "alertTargetIDs": None,
         "alertId": f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/alerts/Test_Alert",
         "firedDateTime": "2022-12-07T21:13:20.645Z",
         "description": "Your spend for budget Test_actual_cost_budget is now $11,111.00"},
        {"AlertCategory": "budgets",
         "AlertData": {"BudgetName": "Test_actual_cost_budget", "SpentAmount": "$11,111.00",
                       "Unit": "USD"}},
    )
    assert alert.status == "firing"
    assert alert.severity is None
    assert alert.title == "Budget Test_actual_cost_budget"
    assert alert.labels == {"monitoring_service": "CostAlerts", "subscription": SUB}
    assert alert.annotations["SpentAmount"] == "$11,111.00"


def test_azure_resource_group_is_case_insensitive_and_the_first_wins():
    alert = azure_alert({"alertTargetIDs": [
        f"/subscriptions/{SUB}/resourceGroups/First-RG/providers/x/y/vm1",
        f"/subscriptions/{SUB}/resourcegroups/second-rg/providers/x/y/vm2",
    ]})
    assert (alert.labels["resource_group"], alert.labels["resource"]) == ("First-RG", "vm1")


def test_azure_errors_name_the_path():
    doc = azure({"alertTargetIDs": ["/subscriptions/x", 5]})
    assert rejected("azure_monitor", doc) == (
        "data.essentials.alertTargetIDs[1]: expected a string, got a number; send a string here"
    )
    assert rejected("azure_monitor", azure({"alertId": " "})).startswith(
        "data.essentials.alertId: is blank; send the alert instance's resource id"
    )
    assert rejected("azure_monitor", azure({"monitorCondition": "Activated"})) == (
        'data.essentials.monitorCondition: unknown value "Activated"; send "Fired" or "Resolved"'
    )
    assert rejected("azure_monitor", {"schemaId": "azureMonitorCommonAlertSchema"}) == (
        "data: expected an object, got null; send an object here"
    )


# --- PagerDuty ----------------------------------------------------------------------------

def pagerduty_trigger() -> dict:
    """An Events API v2 trigger, as PagerDuty's documentation shows it."""
    return {
        "payload": {
            "summary": "DISK at 99% on machine prod-datapipe03.example.com",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "severity": "critical",
            "source": "prod-datapipe03.example.com",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {
                "free space": "1%",
                "ping time": 1500,
                "load avg": 0.75,
                "healthy": False,
                "severity": "should not win",
                "volumes": {"/": "99%", "/data": "12%"},
                "nothing": None,
            },
        },
        "routing_key": "samplekeyhere",
        "dedup_key": "samplekeyhere",
        "images": [{"src": "https://www.pagerduty.com/wp-content/uploads/2016/05/logo.png",
                    "href": "https://example.com/", "alt": "Example text"}],
        "links": [{"href": "https://example.com/", "text": "Link text"}],
        "event_action": "trigger",
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }


def test_pagerduty_trigger():
    batch = parse("pagerduty", encode(pagerduty_trigger()))
    assert batch.source == "pagerduty"
    assert batch.group_key == "samplekeyhere"
    assert batch.title == "DISK at 99% on machine prod-datapipe03.example.com"
    (alert,) = batch.alerts
    assert alert.dedup_key == "samplekeyhere"
    assert alert.status == "firing"
    assert alert.severity == "critical"
    assert alert.title == "DISK at 99% on machine prod-datapipe03.example.com"
    assert alert.labels == {
        "severity": "critical", "source": "prod-datapipe03.example.com", "component": "mysql",
        "group": "prod-datapipe", "class": "disk", "free space": "1%", "ping time": "1500",
        "load avg": "0.75", "healthy": "false",
    }
    assert alert.annotations == {"volumes": '{"/":"99%","/data":"12%"}'}
    assert alert.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert alert.links == (
        Link("Link text", "https://example.com/"),
        Link("Sample Monitoring Service", "https://monitoring.example.com"),
    )


@pytest.mark.parametrize(
    "action, status", [("acknowledge", "acknowledged"), ("resolve", "resolved")]
)
def test_pagerduty_acknowledge_and_resolve_need_only_the_dedup_key(action, status):
    batch = parse("pagerduty", encode(
        {"routing_key": "k", "event_action": action, "dedup_key": "samplekeyhere"}
    ))
    (alert,) = batch.alerts
    assert (alert.dedup_key, alert.status) == ("samplekeyhere", status)
    assert alert.title == "samplekeyhere"
    assert batch.group_key == "samplekeyhere"
    assert alert.severity is None and alert.labels == {}


def test_pagerduty_trigger_without_a_dedup_key_gets_a_stable_one():
    doc = pagerduty_trigger()
    del doc["dedup_key"]
    first = parse("pagerduty", encode(doc)).alerts[0].dedup_key
    assert len(first) == 64
    assert parse("pagerduty", encode(doc)).alerts[0].dedup_key == first
    doc["payload"]["summary"] = "DISK at 98% on machine prod-datapipe03.example.com"
    assert parse("pagerduty", encode(doc)).alerts[0].dedup_key != first


def test_pagerduty_long_summary_is_cut_for_the_title_and_kept_as_the_description():
    doc = pagerduty_trigger()
    doc["payload"]["summary"] = "x" * 2000
    alert = parse("pagerduty", encode(doc)).alerts[0]
    assert len(alert.title) == 300
    assert len(alert.description) == 1024


def pd_error(change) -> str:
    doc = pagerduty_trigger()
    change(doc)
    return rejected("pagerduty", doc)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("event_action"),
         ("event_action: 'event_action' is missing or invalid; "
          'send "trigger", "acknowledge" or "resolve"')),
        (lambda d: d.update(event_action="escalate"), "'event_action' is missing or invalid"),
        (lambda d: d.update(event_action="resolve", dedup_key=""),
         ("dedup_key: 'dedup_key' is missing or blank; "
          "send the dedup_key of the event that triggered the alert")),
        (lambda d: d.update(dedup_key="k" * 256), "'dedup_key' is too long (max 255 characters)"),
        (lambda d: d.update(dedup_key=5), "dedup_key: 'dedup_key' is invalid; send a string"),
        (lambda d: d.pop("payload"), "payload: 'payload' is missing or invalid"),
        (lambda d: d["payload"].pop("summary"),
         ("payload.summary: 'payload.summary' is missing or blank; "
          "send payload.summary as a non-empty string")),
        (lambda d: d["payload"].update(source="  "), "'payload.source' is missing or blank"),
        (lambda d: d["payload"].pop("severity"), "'payload.severity' is missing or invalid"),
        (lambda d: d["payload"].update(severity="high"),
         ("payload.severity: 'payload.severity' is missing or invalid; "
          "send critical, error, warning or info")),
        (lambda d: d["payload"].update(timestamp="last tuesday"),
         "payload.timestamp: 'payload.timestamp' is invalid"),
        (lambda d: d["payload"].update(component=["a"]),
         "payload.component: expected a string, got an array"),
        (lambda d: d.update(links=[{"href": 7}]), "links[0].href: expected a string, got a number"),
    ],
)
def test_pagerduty_validation_speaks_pagerdutys_language(change, message):
    assert message in pd_error(change)


# --- generic ------------------------------------------------------------------------------

def test_generic_batch():
    batch = parse("generic", encode({
        "group_key": "checkout-db",
        "title": "Checkout database",
        "alerts": [
            {"id": "disk-full/db-1", "status": "firing", "title": "Disk full on db-1",
             "description": "Less than 1% free.", "severity": "Critical",
             "labels": {"service": "checkout", "host": "db-1"},
             "annotations": {"runbook": "see wiki"},
             "links": [{"title": "Dashboard", "url": "https://grafana.example.com/d/db"}],
             "starts_at": "2026-11-29T05:34:15+01:00"},
            {"id": "disk-full/db-2", "status": "resolved",
             "ends_at": "2026-11-29T06:00:00"},
        ],
    }))
    assert (batch.source, batch.group_key, batch.title) == ("generic", "checkout-db",
                                                            "Checkout database")
    first, second = batch.alerts
    assert (first.dedup_key, first.status) == ("disk-full/db-1", "firing")
    assert first.severity == "critical"
    assert first.title == "Disk full on db-1"
    assert first.description == "Less than 1% free."
    assert first.labels == {"service": "checkout", "host": "db-1"}
    assert first.annotations == {"runbook": "see wiki"}
    assert first.links == (Link("Dashboard", "https://grafana.example.com/d/db"),)
    assert first.starts_at == datetime(2026, 11, 29, 4, 34, 15, tzinfo=UTC)
    assert (second.status, second.title, second.severity) == ("resolved", "disk-full/db-2", None)
    assert second.ends_at == datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # naive is UTC


def test_generic_single_alert_is_a_batch_of_one():
    batch = parse("generic", encode({"id": "cron/backup", "title": "Backup\nfailed"}))
    (alert,) = batch.alerts
    assert (alert.dedup_key, alert.status) == ("cron/backup", "firing")
    assert alert.title == "Backup failed"
    assert batch.group_key is None and batch.title is None


@pytest.mark.parametrize(
    "document, message",
    [
        ({"alerts": [{"id": "a"}, {"title": "no id"}]},
         ('alerts[1].id: is missing; send a string that names this alert across resends, '
          'such as "disk-full/db-1"')),
        ({"id": "a", "status": "acknowledged"},
         'status: unknown value "acknowledged"; send "firing" or "resolved"'),
        ({"id": "a", "labels": {"team": None}},
         "labels.team: expected a string, got null; send a string here"),
        ({"id": "a", "links": [{"title": "x"}]},
         "links[0].url: is missing; send the link's https URL"),
        ({"id": "a", "labels": {"odd key": 1}},
         'labels["odd key"]: expected a string, got a number; send a string here'),
        ({"alerts": {"id": "a"}}, "alerts: expected an array, got an object; send an array here"),
        ({"alerts": ["a"]}, "alerts[0]: expected an object, got a string; send an object here"),
    ],
)
def test_generic_errors(document, message):
    assert rejected("generic", document) == message


def test_generic_over_a_thousand_alerts_is_413():
    message = rejected("generic", {"alerts": [{"id": str(i)} for i in range(1001)]}, status=413)
    assert "send at most 1000 alerts per request" in message


def test_generic_over_long_ids_are_hashed_not_refused():
    key = parse("generic", encode({"id": "k" * 5000})).alerts[0].dedup_key
    assert key.startswith("sha256:") and len(key) == 71


# --- bodies that are not JSON objects -----------------------------------------------------

@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", ("the body is not valid JSON (Expecting property name enclosed in "
                        "double quotes at line 1, column 2); send one JSON object")),
        (b"\xff\xfe{}", "the body is not UTF-8 (byte 0); send JSON encoded as UTF-8"),
        (b"", "the body is empty; send a JSON object"),
        (b"[]", "the body is an array, not a JSON object"),
        (b'"text"', "the body is a string, not a JSON object"),
        (b"42", "the body is a number, not a JSON object"),
        (b"null", "the body is null, not a JSON object"),
        (b'{"a": NaN}', "the body is not acceptable JSON (NaN is not a JSON number)"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is not acceptable JSON (nested too deeply)"),
    ],
)
def test_malformed_bodies_are_400(source, body, message):
    with pytest.raises(AlertPayloadInvalid) as caught:
        parse(source, body)
    assert caught.value.status == 400
    assert str(caught.value).startswith(message)


def test_a_utf8_byte_order_mark_is_allowed():
    body = "\ufeff".encode() + encode({"id": "a"})
    assert parse("generic", body).alerts[0].dedup_key == "a"


def test_an_unknown_source_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown alert source 'nagios'") as caught:
        parse("nagios", b"{}")
    assert not isinstance(caught.value, AlertPayloadInvalid)
    with pytest.raises(ValueError, match="unknown alert source"):
        parse_document("nagios", {})


def test_parse_document_takes_a_decoded_value():
    batch = parse_document("generic", {"id": "a", "starts_at": "2026-11-29T05:34:15.1234567Z"})
    assert batch.alerts[0].starts_at == datetime(2026, 11, 29, 5, 34, 15, 123456, tzinfo=UTC)
    with pytest.raises(AlertPayloadInvalid, match="the body is an array"):
        parse_document("generic", [{"id": "a"}])


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-29T05:34:15Z", datetime(2026, 11, 29, 5, 34, 15, tzinfo=UTC)),
        ("2026-11-29t05:34:15.5z", datetime(2026, 11, 29, 5, 34, 15, 500000, tzinfo=UTC)),
        ("2026-11-29 05:34:15+0200", datetime(2026, 11, 29, 3, 34, 15, tzinfo=UTC)),
        ("2026-11-29T05:34", datetime(2026, 11, 29, 5, 34, tzinfo=UTC)),
        ("2026-11-29T00:30:00-01:00", datetime(2026, 11, 29, 1, 30, tzinfo=UTC)),
        ("", None),
    ],
)
def test_timestamps(value, expected):
    parsed = parse_document("generic", {"id": "a", "starts_at": value}).alerts[0].starts_at
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value", ["2026-11-29", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "１２", "now"]
)
def test_invalid_timestamps_are_400(value):
    assert rejected("generic", {"id": "a", "starts_at": value}).startswith("starts_at: ")
