# Runs inside the candidate process: wraps the scorer-side session proxy in a small class with
# keyword arguments and calls the candidate's speculate(). The scorer checks the output.


class LM:
    """Handle on one prompt's speculative decoding session.

    draft(k=1) -> {"tokens": [k draft tokens], "confidences": [draft probability of each]}
        (extends the pending draft; at most 16 tokens pending)
    verify(tokens=None) -> {"accepted", "proposed", "tokens", "done"}: the target checks the
        pending draft (or `tokens`), accepts its longest agreeing prefix and appends its own
        next token; "tokens" are the tokens committed by this call.
    state() -> {"committed", "n_new", "pending", "context" (last prompt tokens + committed)}
    """

    def __init__(self, proxy):
        self._proxy = proxy

    def draft(self, k=1):
        return self._proxy.draft(int(k))

    def verify(self, tokens=None):
        return self._proxy.verify(None if tokens is None else [int(t) for t in tokens])

    def state(self):
        return self._proxy.state()


def run_speculate(speculate, proxy, n_new):
    return speculate(LM(proxy), n_new)
