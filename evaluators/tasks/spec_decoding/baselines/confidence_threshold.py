"""Confidence threshold: keep drafting while the draft's probability of its token is at least
THRESHOLD (at most MAX_K tokens a round); the first unsure token is still proposed."""
THRESHOLD = 0.5
MAX_K = 8


def speculate(lm, n_new):
    out = []
    while len(out) < n_new:
        for _ in range(MAX_K):
            if lm.draft(1)["confidences"][0] < THRESHOLD:
                break
        out += lm.verify()["tokens"]
    return out
