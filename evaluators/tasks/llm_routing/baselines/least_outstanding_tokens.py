import numpy as np


class Router:
    """Least outstanding tokens: fewest prompt + generated tokens of unfinished requests."""

    def __init__(self, fleet):
        pass

    def route(self, request, state):
        return int(np.argmin(state.tokens_in_flight))
