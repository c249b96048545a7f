import random


class Router:
    """Uniformly random replica (seeded per scenario)."""

    def __init__(self, fleet):
        self.size = fleet.size
        self.rng = random.Random(fleet.seed)

    def route(self, request, state):
        return self.rng.randrange(self.size)
