"""The archive's errors: one-line messages meant for the user (the CLI exits 2 on them)."""


class ArchiveError(ValueError):
    """A lookup failed or a request conflicts with the archive's state; one-line message."""


class ArchiveUnusable(ArchiveError):
    """The archive path cannot be opened as it is (damaged, not an archive, no directory); nothing was written."""


class CampaignNameTaken(ArchiveError):
    """A new campaign asks for a name another campaign of the archive has."""


class NoSuchCampaign(ArchiveError):
    """No campaign of the archive has the id or name asked for."""


class NoCampaigns(ArchiveError):
    """The archive holds no campaign yet."""
