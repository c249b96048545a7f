import random


class Router:
    """Power of two choices: sample two distinct replicas, send to the one with fewer unfinished requests."""

    def __init__(self, fleet):
        self.size = fleet.size
        self.rng = random.Random(fleet.seed)

    def route(self, request, state):
        a, b = self.rng.sample(range(self.size), 2)
        load = state.queued + state.running
        return a if load[a] <= load[b] else b
