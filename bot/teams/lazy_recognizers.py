"""Load two heavy dependencies of botbuilder-dialogs only if they are ever used.

`botbuilder.dialogs` imports every prompt at import time. Some of those imports keep
megabytes resident for features Firebreak uses rarely or never:

- `recognizers_date_time` (about 7 MiB of regex tables), for `DateTimePrompt`;
- `emoji` (about 6 MiB of code-point tables). `recognizers_text` imports it to answer
  `is_emoji()`, which only the boolean recognizer of `ConfirmPrompt` calls;
- `recognizers_number` (about 2 MiB), which a choice prompt needs only when an answer matches
  no choice and might be a number ("2", "the second one");
- `recognizers_choice` (with `grapheme`'s tables), for `ConfirmPrompt` only.

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
    # The real recognizers import each other's submodules, which a stand-in (not a package)
    # cannot provide: once one is needed, load every one that is still standing in.
    for other in [n for n, m in sys.modules.items() if getattr(m, "__firebreak_stand_in__", False)]:
        del sys.modules[other]
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


class _AnnotationOnly:
    """Stands for a class botbuilder names only in annotations inside function bodies, which
    Python never evaluates (`model: NumberModel = ...` in choice_recognizers.py)."""


def install() -> None:
    """Put the stand-ins in place, unless the real modules are already loaded."""
    if "recognizers_number" not in sys.modules:
        numbers = _stand_in("recognizers_number")
        numbers.NumberModel = numbers.OrdinalModel = _AnnotationOnly  # type: ignore[attr-defined]
        numbers.NumberRecognizer = (  # type: ignore[attr-defined]
            lambda *args, **kwargs: numbers._firebreak_real().NumberRecognizer(*args, **kwargs)  # type: ignore[attr-defined]
        )
        numbers.recognize_number = (  # type: ignore[attr-defined]
            lambda *args, **kwargs: numbers._firebreak_real().recognize_number(*args, **kwargs)  # type: ignore[attr-defined]
        )
        sys.modules["recognizers_number"] = numbers
    if "recognizers_choice" not in sys.modules:
        choice = _stand_in("recognizers_choice")
        choice.recognize_boolean = (  # type: ignore[attr-defined]
            lambda *args, **kwargs: choice._firebreak_real().recognize_boolean(*args, **kwargs)  # type: ignore[attr-defined]
        )
        sys.modules["recognizers_choice"] = choice
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
