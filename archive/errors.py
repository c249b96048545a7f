"""The archive's errors: one-line messages meant for the user (the CLI exits 2 on them)."""


class ArchiveError(ValueError):
    """A lookup failed or a request conflicts with the archive's state; one-line message."""


class ArchiveUnusable(ArchiveError):
    """The archive path cannot be opened as it is (damaged, not an archive, no directory); nothing was written."""
