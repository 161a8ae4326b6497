"""Conversation state and the dialog set that lives in it (persisted through `DatabaseStorage`)."""
from __future__ import annotations

from botbuilder.core import ConversationState, Storage
from botbuilder.dialogs import DialogSet


def conversation_dialogs(storage: Storage) -> tuple[ConversationState, DialogSet]:
    """The conversation state over `storage` and an empty dialog set kept in it."""
    state = ConversationState(storage)
    return state, DialogSet(state.create_property("DialogState"))
