"""The archive's one error type."""


class ArchiveError(ValueError):
    """A lookup failed or a request conflicts with the archive's state; one-line message."""
