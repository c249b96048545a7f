"""Fixed draft length: every round the draft proposes K = 5 tokens, then the target verifies."""
K = 5


def speculate(lm, n_new):
    out = []
    while len(out) < n_new:
        lm.draft(K)
        out += lm.verify()["tokens"]
    return out
