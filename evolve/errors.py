"""User-facing errors: each carries a one-line message and becomes exit code 2 in the CLI."""


class UserError(ValueError):
    """Bad input from the user (flags, config, files); the message says what and how to fix it."""


class ExportError(UserError):
    """An export request cannot be satisfied; one line naming what to change."""


class CampaignFailed(RuntimeError):
    """The campaign cannot go on (its seed failed, no evaluation can run, the mutator can never edit);
    the message is one line, stored with the campaign."""
