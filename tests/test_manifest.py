"""The Teams app package: schema-valid manifest, exact zip layout, icons Teams accepts."""
from __future__ import annotations

import json
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from bot.errors import ConfigError
from bot.teams.manifest import (
    DEFAULT_PACKAGE_PATH,
    MANIFEST_DIR,
    build_manifest,
    write_package,
)

SCHEMA_PATH = (
    Path(__file__).resolve().parents[2]
    / "shared/schemas/teams-manifest/v1.19/MicrosoftTeams.schema.json"
)
APP_ID = "2b6f4c1e-9d3a-4f7b-8e21-0c5d9a7e3f10"
COMMANDS = [
    ("declare", "Declare an incident: declare <title>"),
    ("status", "Show the incident in this conversation"),
    ("help", "What Firebreak can do"),
]


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    if not SCHEMA_PATH.exists():
        pytest.skip(f"Teams manifest schema missing: {SCHEMA_PATH} (see shared/schemas/README.md)")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def assert_valid(validator: Draft4Validator, manifest: dict) -> None:
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    lines = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    assert not errors, "\n".join(lines)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def png_rgba_pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """Decode an 8-bit RGBA PNG (all five scanline filters), enough to check the icons."""
    width, height = png_size(data)
    bit_depth, colour_type = data[24], data[25]
    assert (bit_depth, colour_type) == (8, 6), "icons are 8-bit RGBA"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, prev, pixels = zlib.decompress(idat), width * 4, bytearray(width * 4), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - 4] if i >= 4 else 0
            b, c = prev[i], prev[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels += [tuple(line[i : i + 4]) for i in range(0, stride, 4)]
        prev = line
    return pixels


def test_manifest_validates_against_v1_19_schema(validator):
    manifest = build_manifest(
        app_id=APP_ID, commands=COMMANDS, public_url="https://fb.contoso.com:8443/x"
    )
    assert_valid(validator, manifest)
    assert manifest["manifestVersion"] == "1.19"
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == manifest["webApplicationInfo"]["id"] == APP_ID
    assert APP_ID in manifest["webApplicationInfo"]["resource"]
    assert "${" not in json.dumps(manifest)
    assert manifest["validDomains"] == ["fb.contoso.com"]
    assert manifest["bots"][0]["scopes"] == ["personal", "team", "groupChat"]
    assert manifest["bots"][0]["supportsFiles"] is False
    granted = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {(p["name"], p["type"]) for p in granted} == {
        ("Channel.Create.Group", "Application"),  # a channel per incident
        ("ChannelSettings.Read.Group", "Application"),  # look the channel up before creating it
        ("ChannelMessage.Send.Group", "Application"),
        ("TeamMember.Read.Group", "Application"),
    }


def test_without_public_url_valid_domains_stay_empty(validator):
    manifest = build_manifest(app_id=APP_ID, commands=[])
    assert_valid(validator, manifest)
    assert manifest["validDomains"] == []
    assert "commandLists" not in manifest["bots"][0]


def test_command_lists_follow_the_given_commands(validator):
    lists = build_manifest(app_id=APP_ID, commands=COMMANDS)["bots"][0]["commandLists"]
    assert [cl["scopes"] for cl in lists] == [["personal"], ["team"], ["groupChat"]]
    for cl in lists:
        assert [(c["title"], c["description"]) for c in cl["commands"]] == COMMANDS

    other = [("ack", "Acknowledge the page"), ("declare", "Open an incident")]
    lists2 = build_manifest(app_id=APP_ID, commands=other)["bots"][0]["commandLists"]
    assert [(c["title"], c["description"]) for c in lists2[0]["commands"]] == other


def test_more_than_ten_commands_keeps_the_first_ten_and_says_which_went(validator, caplog):
    commands = [(f"cmd{i}", f"Command number {i}") for i in range(13)]
    with caplog.at_level(logging.WARNING, logger="bot.teams.manifest"):
        manifest = build_manifest(app_id=APP_ID, commands=commands)
    assert_valid(validator, manifest)
    for cl in manifest["bots"][0]["commandLists"]:
        assert [c["title"] for c in cl["commands"]] == [f"cmd{i}" for i in range(10)]
    assert "cmd10, cmd11, cmd12" in caplog.text


def test_long_description_is_shortened_and_long_title_refused(validator):
    manifest = build_manifest(app_id=APP_ID, commands=[("declare", "x" * 300)])
    assert_valid(validator, manifest)
    assert len(manifest["bots"][0]["commandLists"][0]["commands"][0]["description"]) == 128
    with pytest.raises(ConfigError, match="1 to 32 characters"):
        build_manifest(app_id=APP_ID, commands=[("t" * 33, "too long a title")])


@pytest.mark.parametrize("bad", ["", "   ", "not-a-guid", "${MICROSOFT_APP_ID}", APP_ID + "0"])
def test_bad_app_id_is_refused(tmp_path, bad):
    out = tmp_path / "app.zip"
    with pytest.raises(ConfigError, match="MICROSOFT_APP_ID"):
        write_package(out_path=out, app_id=bad, commands=COMMANDS)
    assert not out.exists()


def test_package_has_exactly_the_three_files_at_its_root(validator, tmp_path):
    out_path = tmp_path / "nested" / "dir" / "app.zip"
    out = write_package(out_path=out_path, app_id=APP_ID, commands=COMMANDS)
    assert out.is_file()
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")
    assert_valid(validator, manifest)
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_size(color) == (192, 192)
    assert png_size(outline) == (32, 32)


def test_package_is_reproducible(tmp_path):
    a = write_package(out_path=tmp_path / "a.zip", app_id=APP_ID, commands=COMMANDS)
    b = write_package(out_path=tmp_path / "b.zip", app_id=APP_ID, commands=COMMANDS)
    assert a.read_bytes() == b.read_bytes()


def test_outline_icon_is_white_on_transparent():
    pixels = png_rgba_pixels((MANIFEST_DIR / "outline.png").read_bytes())
    assert len(pixels) == 32 * 32
    assert all(p[:3] == (255, 255, 255) for p in pixels if p[3]), "Teams wants only white pixels"
    assert any(p[3] == 0 for p in pixels) and any(p[3] == 255 for p in pixels)


def test_color_icon_is_opaque_full_colour():
    pixels = png_rgba_pixels((MANIFEST_DIR / "color.png").read_bytes())
    assert len(pixels) == 192 * 192
    assert all(p[3] == 255 for p in pixels)
    assert len({p[:3] for p in pixels}) > 3  # not a flat or monochrome square


def test_default_package_path():
    assert DEFAULT_PACKAGE_PATH == Path("build/firebreak-teams-app.zip")


def test_message_actions_are_in_the_package_and_valid(validator, tmp_path):
    from bot.teams.message_actions import COMMAND_IDS

    out = write_package(out_path=tmp_path / "app.zip", app_id=APP_ID, commands=COMMANDS)
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert_valid(validator, manifest)
    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID
    commands = {c["id"]: c for c in extension["commands"]}
    assert tuple(commands) == COMMAND_IDS == ("createIncident", "addToTimeline")
    assert commands["createIncident"]["title"] == "Declare incident"
    assert commands["addToTimeline"]["title"] == "Add to incident timeline"
    for command in commands.values():
        assert command["type"] == "action" and command["fetchTask"] is True
        assert "message" in command["context"]
        assert 0 < len(command["title"]) <= 32 and len(command["description"]) <= 128
