"""The dependency rule (docs/architecture.md), checked on the source: `app.py -> bot.teams,
dialogs -> bot.domain -> storage`; botbuilder only in bot/teams and dialogs; no aiohttp in the
domain or storage. A break here is a design problem, caught before it spreads."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


RULES = [
    ("storage", ("bot", "dialogs", "botbuilder", "aiohttp")),
    ("bot/domain", ("bot.teams", "dialogs", "botbuilder", "aiohttp", "app")),
    ("bot/alerts", ("bot.teams", "dialogs", "botbuilder", "aiohttp", "app")),
    ("bot/senders", ("bot.teams", "dialogs", "botbuilder", "app")),
]


@pytest.mark.parametrize(("folder", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layer_does_not_import_what_sits_above_it(folder, forbidden):
    broken = []
    for path in _modules(folder):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not broken, "\n".join(broken)


def test_botbuilder_only_in_the_teams_layer_and_dialogs():
    allowed = ("bot/teams/", "dialogs/")
    broken = []
    for path in [ROOT / "app.py", *_modules("bot")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(allowed):
            continue
        for name in _imports(path):
            if name == "botbuilder" or name.startswith("botbuilder."):
                broken.append(f"{rel} imports {name}")
    assert not broken, "\n".join(broken)
