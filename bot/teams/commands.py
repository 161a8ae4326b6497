"""The command registry and parser: text a user typed -> a command name and its arguments.

Commands register themselves with a decorator; help text and the manifest's command lists are
generated from this registry, never kept by hand.
"""
from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Generic, Iterable, TypeVar

Ctx = TypeVar("Ctx")

_AT_TAG = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Mention:
    """A user @mentioned in the message (the bot itself is never listed)."""

    id: str
    name: str
    aad_object_id: str | None = None


@dataclass(frozen=True)
class ParsedCommand:
    """A message split into its command word and arguments."""

    name: str
    args: str
    mentions: tuple[Mention, ...] = ()
    slash: bool = False

    @property
    def tokens(self) -> list[str]:
        return self.args.split()


@dataclass(frozen=True)
class CommandSpec(Generic[Ctx]):
    """One command: its name, how to call it, what it does, and its handler."""

    name: str
    usage: str
    summary: str
    handler: Callable[[Ctx], Awaitable[None]]
    aliases: tuple[str, ...] = ()
    in_manifest: bool = True


@dataclass
class CommandRegistry(Generic[Ctx]):
    """Name -> command, in registration order (which is also the order of help and manifest)."""

    _specs: dict[str, CommandSpec[Ctx]] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def command(
        self, name: str, *, usage: str, summary: str, aliases: Iterable[str] = (), in_manifest: bool = True
    ) -> Callable[[Callable[[Ctx], Awaitable[None]]], Callable[[Ctx], Awaitable[None]]]:
        """Decorator registering a handler under `name` (and its aliases)."""

        def register(handler: Callable[[Ctx], Awaitable[None]]) -> Callable[[Ctx], Awaitable[None]]:
            if name in self._specs or name in self._aliases:
                raise ValueError(f"command {name!r} registered twice")
            spec = CommandSpec(name, usage, summary, handler, tuple(aliases), in_manifest)
            self._specs[name] = spec
            for alias in spec.aliases:
                self._aliases[alias] = name
            return handler

        return register

    def lookup(self, name: str) -> CommandSpec[Ctx] | None:
        name = name.lower()
        return self._specs.get(self._aliases.get(name, name))

    def specs(self) -> list[CommandSpec[Ctx]]:
        return list(self._specs.values())

    def suggest(self, word: str) -> list[str]:
        """Commands close to a mistyped word."""
        return difflib.get_close_matches(word.lower(), list(self._specs) + list(self._aliases), n=3, cutoff=0.6)

    def help_lines(self) -> list[str]:
        return [f"`{spec.usage}`: {spec.summary}" for spec in self._specs.values()]

    def manifest_commands(self) -> list[tuple[str, str]]:
        """(title, description) pairs for the Teams manifest's command lists."""
        return [(spec.name, spec.summary) for spec in self._specs.values() if spec.in_manifest]

    def unknown_reply(self, word: str) -> str:
        """What to tell someone who typed a command that does not exist."""
        close = [self.lookup(c).name for c in self.suggest(word) if self.lookup(c)]  # type: ignore[union-attr]
        close = list(dict.fromkeys(close))
        if close:
            options = " or ".join(f"`{self.lookup(c).usage}`" for c in close)  # type: ignore[union-attr]
            return f"I don't know `{word}`. Did you mean {options}? Say `help` for every command."
        return f"I don't know `{word}`. Say `help` to see what I can do."


def clean_text(text: str, *, bot_names: Iterable[str] = ()) -> tuple[str, list[str]]:
    """Plain text from a Teams message: bot @mentions removed, user mentions kept as `@Name`.

    Returns the text and the names of the user mentions in order.
    """
    text = html.unescape(text or "")
    skip = {n.lower() for n in bot_names if n}
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        inner = _TAG.sub("", match.group(1)).strip()
        if inner.lower().lstrip("@") in skip:
            return " "
        names.append(inner)
        return f"@{inner}"

    text = _AT_TAG.sub(replace, text)
    text = _TAG.sub(" ", text).replace("\u00a0", " ")
    return " ".join(text.split()), names


def parse_command(text: str, *, mentions: Iterable[Mention] = (), bot_names: Iterable[str] = ()) -> ParsedCommand | None:
    """Split a message into a command; None for an empty message. A leading `/` is accepted."""
    cleaned, _names = clean_text(text, bot_names=bot_names)
    if not cleaned:
        return None
    word, _, rest = cleaned.partition(" ")
    slash = word.startswith("/")
    word = word.lstrip("/").lower()
    if not word:
        return None
    return ParsedCommand(name=word, args=rest.strip(), mentions=tuple(mentions), slash=slash)
