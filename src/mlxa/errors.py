"""Typed errors that name the culprit. The CLI turns each into one line on stderr and exit 2."""

from __future__ import annotations


class MlxaError(Exception):
    """Base of every error mlxa reports to a user (never shown as a traceback)."""


class UserInputError(MlxaError):
    """A command-line value, a file or a model that mlxa cannot accept."""


class ShapeError(MlxaError):
    """An op was given inputs its shape rule rejects; the message quotes the node."""


class UnsupportedOpError(MlxaError):
    """A model uses ops that mlxa's op table does not have."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` and atomic write cleans up."""
