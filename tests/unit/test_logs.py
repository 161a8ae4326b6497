"""Structured logs: JSON lines with request and incident ids, secrets redacted."""
import json
import logging

from bot.logs import JsonFormatter, TextFormatter, configure_logging, request_id_var


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("firebreak.test", logging.INFO, __file__, 1, "turn %s", ("done",), None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_lines_carry_ids_and_redact_secrets():
    line = JsonFormatter().format(_record(request_id="r-1", incident_id=7, app_password="hunter2"))
    entry = json.loads(line)
    assert entry["message"] == "turn done" and entry["level"] == "INFO"
    assert entry["request_id"] == "r-1" and entry["incident_id"] == 7
    assert entry["app_password"] == "[redacted]" and "hunter2" not in line


def test_text_format_appends_ids():
    assert "incident_id=7" in TextFormatter("%(message)s").format(_record(incident_id=7))


def test_request_id_comes_from_the_context(capsys):
    configure_logging(fmt="json", level="INFO")
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("firebreak.test").info("hello", extra={"incident_id": 3})
    finally:
        request_id_var.reset(token)
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["request_id"] == "req-42" and entry["incident_id"] == 3
