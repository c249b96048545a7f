import numpy as np


class Router:
    """Join the shortest queue: fewest unfinished requests (waiting + running); ties to the lowest index."""

    def __init__(self, fleet):
        pass

    def route(self, request, state):
        return int(np.argmin(state.queued + state.running))
