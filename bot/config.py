"""Deployment settings: one frozen object read from the environment and validated at start-up.

How the organisation responds lives in the response plan (`bot/plan.py`); this module only
holds what differs between deployments: credentials, database, ports, limits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.senders import is_loopback_host

AZURE_BOT_HELP = (
    "Create an Azure Bot resource (Azure portal > Create a resource > Azure Bot), "
    "then copy its Microsoft App ID, create a client secret under "
    "'Configuration > Manage Password', and note your Entra ID tenant id. "
    "See README.md, 'Deploying to a real tenant'."
)
MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    """Everything Firebreak reads from the environment (see README for each variable)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    app_id: str = Field("", alias="MICROSOFT_APP_ID")
    app_password: SecretStr = Field(SecretStr(""), alias="MICROSOFT_APP_PASSWORD")
    app_tenant_id: str = Field("", alias="MICROSOFT_APP_TENANT_ID")
    app_type: Literal["SingleTenant", "MultiTenant", "UserAssignedMSI"] = Field(
        "SingleTenant", alias="MICROSOFT_APP_TYPE"
    )
    database_url: str = Field("sqlite:///./data/firebreak.db", alias="DATABASE_URL")
    plan_path: Path = Field(Path("plans/example.yaml"), alias="FIREBREAK_PLAN")
    # How often the plan file is checked for changes (seconds; 0 turns the watch off).
    plan_watch_s: float = Field(5.0, alias="FIREBREAK_PLAN_WATCH", ge=0, le=3600)
    port: int = Field(3978, alias="FIREBREAK_PORT", ge=1, le=65535)
    host: str = Field("0.0.0.0", alias="FIREBREAK_HOST")
    public_url: str = Field("", alias="FIREBREAK_PUBLIC_URL")
    allowed_tenants_raw: str = Field("", alias="FIREBREAK_ALLOWED_TENANTS")
    max_body: int = Field(1024 * 1024, alias="FIREBREAK_MAX_BODY", gt=0)
    log_format: Literal["text", "json"] = Field("text", alias="FIREBREAK_LOG_FORMAT")
    log_level: str = Field("INFO", alias="FIREBREAK_LOG_LEVEL")
    reply_threads: int = Field(32, alias="FIREBREAK_REPLY_THREADS", ge=4, le=512)
    dev: bool = Field(False, alias="FIREBREAK_DEV")
    graph: Literal["auto", "off"] = Field("auto", alias="FIREBREAK_GRAPH")
    graph_url: str = Field("https://graph.microsoft.com/v1.0", alias="FIREBREAK_GRAPH_URL")
    graph_budget_s: float = Field(8.0, alias="FIREBREAK_GRAPH_BUDGET", gt=0, le=12)
    # Paging by e-mail and webhook (bot/senders/); acknowledge links (bot/web_ack.py).
    smtp_host: str = Field("", alias="FIREBREAK_SMTP_HOST")
    smtp_port: int = Field(587, alias="FIREBREAK_SMTP_PORT", ge=1, le=65535)
    smtp_username: str = Field("", alias="FIREBREAK_SMTP_USERNAME")
    smtp_password: SecretStr = Field(SecretStr(""), alias="FIREBREAK_SMTP_PASSWORD")
    smtp_from: str = Field("", alias="FIREBREAK_SMTP_FROM")
    smtp_tls: Literal["starttls", "tls", "none"] = Field("starttls", alias="FIREBREAK_SMTP_TLS")
    ack_secret: SecretStr = Field(SecretStr(""), alias="FIREBREAK_ACK_SECRET")
    webhook_secret: SecretStr = Field(SecretStr(""), alias="FIREBREAK_WEBHOOK_SECRET")
    calendar_secret: SecretStr = Field(SecretStr(""), alias="FIREBREAK_CALENDAR_SECRET")

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @property
    def allowed_tenants(self) -> frozenset[str]:
        """Tenants whose activities are served: the app's own tenant plus the listed ones."""
        listed = {t.strip() for t in self.allowed_tenants_raw.split(",") if t.strip()}
        if self.app_type == "SingleTenant" and self.app_tenant_id:
            listed.add(self.app_tenant_id)
        return frozenset(listed)

    def graph_credentials(self) -> bool:
        """Whether the bot's own app can get Graph tokens (client credentials need all three).

        A managed identity could too, but is not supported for Graph here: it falls back to threads.
        """
        return bool(self.app_id and self.app_password.get_secret_value() and self.app_tenant_id)

    def bind_host(self) -> str:
        """Dev mode never listens beyond loopback, whatever FIREBREAK_HOST says."""
        return "127.0.0.1" if self.dev else self.host

    def production_problems(self) -> list[str]:
        """What is missing to run with authentication, one sentence per problem."""
        problems: list[str] = []
        if not self.app_id:
            problems.append("MICROSOFT_APP_ID is not set (the Azure Bot's Microsoft App ID).")
        if not self.app_password.get_secret_value() and self.app_type != "UserAssignedMSI":
            problems.append(
                "MICROSOFT_APP_PASSWORD is not set (a client secret of the bot's app registration)."
            )
        if self.app_type == "SingleTenant" and not self.app_tenant_id:
            problems.append(
                "MICROSOFT_APP_TENANT_ID is not set (required with MICROSOFT_APP_TYPE=SingleTenant)."
            )
        if not self.allowed_tenants:
            problems.append(
                "No tenant is allowed: set MICROSOFT_APP_TENANT_ID or FIREBREAK_ALLOWED_TENANTS "
                "(comma-separated Entra ID tenant ids)."
            )
        return problems

    def paging_problems(self) -> list[str]:
        """What is wrong with the e-mail paging and acknowledge-link settings, one sentence each.

        Checked here rather than by a pydantic validator, whose error would echo the input
        (passwords included) into the start-up message."""
        problems: list[str] = []
        if self.smtp_host and "@" not in self.smtp_from:
            problems.append("FIREBREAK_SMTP_FROM must be the sender address (e.g. firebreak@contoso.com) "
                            "when FIREBREAK_SMTP_HOST is set.")
        if self.smtp_host and self.smtp_tls == "none" and self.smtp_username and not is_loopback_host(self.smtp_host):
            problems.append(f"FIREBREAK_SMTP_TLS=none would send the SMTP password unencrypted to {self.smtp_host}; "
                            "use starttls (port 587) or tls (port 465).")
        if 0 < len(self.ack_secret.get_secret_value()) < MIN_SECRET_LENGTH:
            problems.append(f"FIREBREAK_ACK_SECRET must be at least {MIN_SECRET_LENGTH} characters; make one with "
                            "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`.")
        return problems

    def require_production_ready(self) -> None:
        """Refuse to start without credentials unless dev mode was asked for explicitly."""
        if self.dev:
            return
        problems = self.production_problems()
        if problems:
            lines = "\n  - ".join(problems)
            raise ConfigError(
                "Firebreak will not start without authentication:\n  - "
                f"{lines}\n{AZURE_BOT_HELP}\n"
                "To try it locally without Teams credentials, run `python app.py --dev`."
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides (CLI flags) win."""
    return Settings(**overrides)  # type: ignore[arg-type]
