"""Speculative decoding policy: how many draft tokens to propose before the target verifies."""


# EVOLVE-BLOCK-START
def speculate(lm, n_new):
    """Generates n_new tokens with the target's greedy output, using the draft to save target passes.

    lm.draft(k=1) -> {"tokens": [...], "confidences": [...]}: k more greedy draft tokens and
        the draft's probability of each (at most 16 pending).
    lm.verify(tokens=None) -> {"accepted", "proposed", "tokens", "done"}: the target checks the
        pending draft (or an explicit proposal), keeps its agreeing prefix and adds one token of
        its own; "tokens" are the tokens committed by this round.
    lm.state() -> {"committed", "n_new", "pending", "context"}.
    Must return the committed tokens (at least n_new); any other output is invalid.
    """
    out, history = [], []
    while len(out) < n_new:
        # Draft more when recent rounds were accepted in full; stop early at an unsure token.
        recent = history[-4:]
        rate = sum(a for _, a in recent) / max(1, sum(p for p, _ in recent)) if recent else 0.5
        max_k = 2 + int(6 * rate)
        for _ in range(max_k):
            if lm.draft(1)["confidences"][0] < 0.4:
                break
        result = lm.verify()
        history.append((result["proposed"], result["accepted"]))
        out += result["tokens"]
    return out
# EVOLVE-BLOCK-END
