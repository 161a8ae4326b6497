"""Alert routing tables: first match wins, the default route, severities, and who is told."""
import copy

import pytest

from bot.alerts.model import Alert
from bot.domain.alert_routing import route_alert
from bot.plan import Plan, load_plan
from tests.support import EXAMPLE_PLAN


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(EXAMPLE_PLAN)


def alert(labels: dict, severity: str | None = None) -> Alert:
    return Alert(dedup_key="k", status="firing", title="t", labels=labels, severity=severity)


def with_integration(plan: Plan, **changes) -> Plan:
    data = copy.deepcopy(plan.model_dump(mode="json"))
    data["integrations"][0].update(changes)
    return Plan.model_validate(data)


# (integration, labels, source severity) -> (route, service, severity, groups)
TABLE = [
    ("alertmanager", {"service": "field-service-app"}, "critical",
     ("routes[1] (Field Service app)", "field-service-app", "sev1", ("tier1",))),
    ("alertmanager", {"service": "field-service-app"}, "warning",
     ("routes[1] (Field Service app)", "field-service-app", "sev3", ("tier1",))),
    # the security route comes first: a security event for a service still goes to security only
    ("alertmanager", {"service": "field-service-app", "category": "security"}, "critical",
     ("routes[0] (security events to security operations only)", None, "sev2", ("security",))),
    ("alertmanager", {"service": "azure-api"}, "critical", ("routes[2] (work-order API)", "azure-api", "sev2", ("tier1",))),
    # nothing matches: the default route keeps it on record (no service), and tells nobody
    ("alertmanager", {"service": "unknown"}, "critical",
     ("default_route (everything else is kept on record)", None, "sev4", ())),
    # categories reach the groups that list them, and `all` subscribers
    ("alertmanager", {"service": "azure-api", "category": "availability"}, "critical",
     ("routes[2] (work-order API)", "azure-api", "sev2", ("tier1", "platform"))),
    ("azure", {"category": "Security", "signal_type": "Activity Log"}, "sev1",
     ("routes[0] (Azure activity log security events)", None, "sev2", ("security",))),
    ("azure", {"resource_group": "rg-fieldservice-data"}, "sev0",
     ("routes[1] (Azure SQL)", "azure-sql", "sev1", ("tier1",))),
    ("azure", {"signal_type": "ServiceHealth"}, "sev2",
     ("routes[2] (service health notices are for the record)", None, "sev4", ())),
    ("azure", {"resource_group": "rg-other"}, "sev1",
     ("default_route (other Azure alerts to the work-order API)", "azure-api", "sev2", ("tier1",))),
    ("generic", {}, None, ("default_route", None, "sev4", ("tier1",))),
]


@pytest.mark.parametrize(("integration", "labels", "severity", "expected"), TABLE)
def test_routing_table(plan: Plan, integration, labels, severity, expected):
    routed = route_alert(plan, plan.integration(integration), alert(labels, severity))
    assert (routed.route, routed.service_id, routed.severity, routed.groups) == expected


def test_record_only_never_names_a_service(plan: Plan):
    routed = route_alert(plan, plan.integration("azure"), alert({"signal_type": "ServiceHealth"}, "sev0"))
    assert routed.record_only and routed.service_id is None


def test_patterns_must_match_the_whole_value(plan: Plan):
    changed = with_integration(plan, routes=[{"match": {"labels_re": {"instance": "web-[0-9]+"}}, "service": "azure-api",
                                              "severity": "sev2"}])
    am = changed.integration("alertmanager")
    assert route_alert(changed, am, alert({"instance": "web-12"})).service_id == "azure-api"
    assert route_alert(changed, am, alert({"instance": "web-12-canary"})).service_id is None
    assert route_alert(changed, am, alert({})).service_id is None  # a missing label matches no pattern


def test_all_labels_of_a_route_must_hold(plan: Plan):
    changed = with_integration(plan, routes=[{"match": {"labels": {"service": "azure-api", "env": "prod"}},
                                              "service": "azure-api", "severity": "sev1"}])
    am = changed.integration("alertmanager")
    assert route_alert(changed, am, alert({"service": "azure-api", "env": "prod"})).severity == "sev1"
    assert route_alert(changed, am, alert({"service": "azure-api", "env": "test"})).route.startswith("default_route")


def test_severity_falls_back_to_the_integration_default_then_the_least_severe(plan: Plan):
    changed = with_integration(plan, default_severity="sev3")
    am = changed.integration("alertmanager")
    routed = route_alert(changed, am, alert({"service": "field-service-app"}, "page-me"))
    assert (routed.severity, routed.severity_reason) == ("sev3", "the integration's default_severity")
    routed = route_alert(plan, plan.integration("alertmanager"), alert({"service": "field-service-app"}))
    assert routed.severity == "sev4" and "gave no severity" in routed.severity_reason
