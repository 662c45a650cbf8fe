"""Every error memelib reports to its users, each with a message that names the file and the fix.

They live in one module that imports nothing heavy, so that the `memelib` command can catch them (and
print one clean line instead of a traceback) without loading torch.
"""

from __future__ import annotations

import os

__all__ = ["AnnotationError", "DataError", "ImageError", "CheckpointError", "ModelUnavailableError"]


class AnnotationError(ValueError):
    """A line that cannot be used; ``str(e)`` is ``"{path}:{line}: {reason}"``."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str) -> None:
        self.path = str(path)  # the .jsonl file
        self.line = line  # the line number, counting from 1
        self.reason = reason  # what is wrong, in plain words
        super().__init__(f"{self.path}:{line}: {reason}")

    def __reduce__(self):  # keep the exception picklable (DataLoader workers send it across)
        return (type(self), (self.path, self.line, self.reason))


class DataError(ValueError):
    """A split has rows that cannot be used; the message is the full validation report."""


class ImageError(ValueError):
    """An image file that cannot be used; ``str(e)`` is ``"{path}: {reason}"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)  # the file that was refused (or a stand-in name for a file object)
        self.reason = reason  # what is wrong with it, in plain words
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep the exception picklable (DataLoader workers send it across)
        return (type(self), (self.path, self.reason))


class CheckpointError(RuntimeError):
    """A run folder cannot be loaded; the message names the file and the problem."""


class ModelUnavailableError(RuntimeError):
    """A model needs a download and the network is unreachable; the message names the fix."""
