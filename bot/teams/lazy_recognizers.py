"""Load two heavy dependencies of botbuilder-dialogs only if they are ever used.

`botbuilder.dialogs` imports every prompt at import time. Two of those imports keep
megabytes resident for features Firebreak does not use:

- `recognizers_date_time` (about 7 MiB of regex tables), for `DateTimePrompt`;
- `emoji` (about 6 MiB of code-point tables). `recognizers_text` imports it to answer
  `is_emoji()`, which only the boolean recognizer of `ConfirmPrompt` calls.

This module puts a stand-in for each in `sys.modules`. A stand-in imports the real module on
first use, so behaviour is unchanged if either is ever needed. Call `install()` before
anything imports `botbuilder.dialogs`; `bot/teams/__init__.py` does.
"""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any, Callable, Iterator


def _load_real(name: str, stand_in: types.ModuleType) -> types.ModuleType:
    if sys.modules.get(name) is stand_in:
        del sys.modules[name]
    return importlib.import_module(name)


class _LazyMapping(Mapping):
    """A mapping attribute of a module that is imported on first use."""

    def __init__(self, load: Callable[[], Mapping]) -> None:
        self._load = load

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __getitem__(self, key: Any) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _stand_in(name: str) -> types.ModuleType:
    module = types.ModuleType(name, f"stand-in: imports {name} on first use")
    module.__firebreak_stand_in__ = True  # type: ignore[attr-defined]

    def real() -> types.ModuleType:
        return _load_real(name, module)

    def attribute(attr: str) -> Any:
        # The import system probes dunders such as __path__; those must not load the module.
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(real(), attr)

    module.__getattr__ = attribute  # type: ignore[attr-defined]
    module._firebreak_real = real  # type: ignore[attr-defined]
    return module


def install() -> None:
    """Put the stand-ins in place, unless the real modules are already loaded."""
    if "recognizers_date_time" not in sys.modules:
        dates = _stand_in("recognizers_date_time")
        dates.recognize_datetime = (  # type: ignore[attr-defined]
            lambda *args, **kwargs: dates._firebreak_real().recognize_datetime(*args, **kwargs)  # type: ignore[attr-defined]
        )
        sys.modules["recognizers_date_time"] = dates
    if "emoji" not in sys.modules:
        emoji = _stand_in("emoji")
        emoji.UNICODE_EMOJI = _LazyMapping(lambda: emoji._firebreak_real().UNICODE_EMOJI)  # type: ignore[attr-defined]
        sys.modules["emoji"] = emoji
