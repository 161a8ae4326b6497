"""Regenerate docs that come from code: docs/commands.md and docs/plan.schema.json."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.plan import write_json_schema  # noqa: E402
from bot.teams.all_actions import actions  # noqa: E402
from bot.teams.command_docs import COMMANDS_DOC, commands_markdown  # noqa: E402
from bot.teams.all_commands import registry  # noqa: E402

if __name__ == "__main__":
    COMMANDS_DOC.write_text(commands_markdown(registry, actions))
    write_json_schema()
    print(f"wrote {COMMANDS_DOC} and docs/plan.schema.json")
