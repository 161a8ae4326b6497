"""Load the date-time recognizers only if a date-time prompt is ever used.

`botbuilder.dialogs` imports every prompt at import time, and its `DateTimePrompt` pulls in
`recognizers_date_time`: about 7 MiB of resident regex tables for a feature Firebreak does
not use. This installs a stand-in module whose `recognize_datetime` imports the real
module on first call, so behaviour is unchanged if it is ever needed. Call
`install()` before anything imports `botbuilder.dialogs`.
"""
from __future__ import annotations

import importlib
import sys
import types

MODULE = "recognizers_date_time"


def install() -> None:
    """Put the stand-in in place, unless the real module is already loaded."""
    if MODULE in sys.modules:
        return
    stand_in = types.ModuleType(MODULE, "stand-in: imports recognizers_date_time on first use")

    def recognize_datetime(*args, **kwargs):
        if sys.modules.get(MODULE) is stand_in:
            del sys.modules[MODULE]
        real = importlib.import_module(MODULE)
        return real.recognize_datetime(*args, **kwargs)

    stand_in.recognize_datetime = recognize_datetime  # type: ignore[attr-defined]
    stand_in.__firebreak_stand_in__ = True  # type: ignore[attr-defined]
    sys.modules[MODULE] = stand_in
