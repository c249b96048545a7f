"""token_halting: per-token, per-layer halting of a deep character language model (after QuickSilver, GateSkip)."""
