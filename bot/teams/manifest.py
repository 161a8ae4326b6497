"""The Teams app package: `manifest/manifest.json` filled in, plus the two icons, zipped.

An admin uploads the zip to Teams to install the bot. The template holds everything that is
the same for every deployment; this module fills in what is not (the Azure Bot's app id, the
public host) and the command menu, which comes from the command registry so that the menu,
the help text and the docs never drift apart.

Permissions are least privilege, all resource-specific consent (granted per team when the app
is installed there, never tenant-wide): `Channel.Create.Group` to open a channel per incident,
`ChannelSettings.Read.Group` to look it up first (so a retry never makes a second one),
`ChannelMessage.Send.Group` to post into channels, `TeamMember.Read.Group` to read the roster.
"""
from __future__ import annotations

import copy
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest"
TEMPLATE_PATH = MANIFEST_DIR / "manifest.json"
ICON_FILES = ("color.png", "outline.png")
DEFAULT_PACKAGE_PATH = Path("build/firebreak-teams-app.zip")

COMMAND_SCOPES = ("personal", "team", "groupChat")
MAX_COMMANDS = 10  # per command list, manifest schema limit
MAX_TITLE = 32
MAX_DESCRIPTION = 128

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
# A fixed timestamp for zip entries, so the same inputs always give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_manifest(
    *, app_id: str, commands: Sequence[tuple[str, str]], public_url: str = ""
) -> dict[str, Any]:
    """The manifest for this deployment; `commands`: (title, description), most important first."""
    app_id = _checked_app_id(app_id)
    manifest = _fill(_load_template(), {"MICROSOFT_APP_ID": app_id})
    host = _host_of(public_url)
    if host:
        manifest["validDomains"] = [host]
    command_list = _command_list(commands)
    if command_list:
        manifest["bots"][0]["commandLists"] = [
            {"scopes": [scope], "commands": copy.deepcopy(command_list)} for scope in COMMAND_SCOPES
        ]
    return manifest


def message_action_commands() -> list[dict[str, Any]]:
    """The message-extension commands the template declares (`composeExtensions[0].commands`),
    for the docs; their handlers are in `bot.teams.message_actions`."""
    extensions = _load_template().get("composeExtensions") or []
    return [dict(command) for extension in extensions for command in extension.get("commands") or []]


def write_package(
    *,
    out_path: Path | str = DEFAULT_PACKAGE_PATH,
    app_id: str,
    commands: Sequence[tuple[str, str]],
    public_url: str = "",
) -> Path:
    """Write the app package zip (manifest.json and both icons at its root); return its path."""
    manifest = build_manifest(app_id=app_id, commands=commands, public_url=public_url)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "manifest.json", json.dumps(manifest, indent=2).encode("utf-8") + b"\n")
        for name in ICON_FILES:
            _add(archive, name, (MANIFEST_DIR / name).read_bytes())
    return out


def _checked_app_id(app_id: str) -> str:
    app_id = (app_id or "").strip()
    if not app_id:
        raise ConfigError(
            "Cannot build the Teams app package: MICROSOFT_APP_ID is not set. Use the Azure Bot's "
            "Microsoft App ID (Azure portal > your Azure Bot > Configuration), for example "
            "`MICROSOFT_APP_ID=00000000-0000-0000-0000-000000000000 python app.py manifest build`."
        )
    if not _GUID.match(app_id):
        raise ConfigError(
            f"Cannot build the Teams app package: MICROSOFT_APP_ID {app_id!r} is not a GUID. "
            "Teams needs the Azure Bot's Microsoft App ID, which looks like "
            "00000000-0000-0000-0000-000000000000 (Azure portal > your Azure Bot > Configuration)."
        )
    return app_id


def _load_template() -> dict[str, Any]:
    return json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))


def _fill(value: Any, variables: dict[str, str]) -> Any:
    """Replace `${NAME}` in every string of the template; an unknown name is a bug in it."""
    if isinstance(value, dict):
        return {key: _fill(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, variables) for item in value]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise ConfigError(
                    f"{TEMPLATE_PATH} uses ${{{name}}}, which the build does not fill."
                )
            return variables[name]

        return _PLACEHOLDER.sub(substitute, value)
    return value


def _host_of(public_url: str) -> str:
    """The host of FIREBREAK_PUBLIC_URL, as `validDomains` wants it (no scheme, no port)."""
    public_url = (public_url or "").strip()
    if not public_url:
        return ""
    if "://" not in public_url:
        public_url = "https://" + public_url
    host = urlsplit(public_url).hostname
    if not host:
        raise ConfigError(
            f"FIREBREAK_PUBLIC_URL {public_url!r} has no host name; "
            "use the bot's public address, like https://firebreak.contoso.com"
        )
    return host


def _command_list(commands: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Commands within the schema limits: at most 10 (first ones win), short text."""
    result = []
    for title, description in commands:
        title = title.strip()
        if not title or len(title) > MAX_TITLE:
            # A shortened title would no longer be the command the bot understands.
            raise ConfigError(
                f"Command title {title!r} must be 1 to {MAX_TITLE} characters for the Teams menu."
            )
        description = " ".join(description.split())
        if len(description) > MAX_DESCRIPTION:
            log.warning(
                "Teams menu: shortening the description of %r to %d characters",
                title,
                MAX_DESCRIPTION,
            )
            description = description[: MAX_DESCRIPTION - 1].rstrip() + "…"
        result.append({"title": title, "description": description})
    if len(result) > MAX_COMMANDS:
        left_out = [command["title"] for command in result[MAX_COMMANDS:]]
        log.warning(
            "Teams shows at most %d commands per menu; left out (least important last): %s",
            MAX_COMMANDS,
            ", ".join(left_out),
        )
        result = result[:MAX_COMMANDS]
    return result


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
