class Router:
    """Round robin: replica k mod size for the k-th request."""

    def __init__(self, fleet):
        self.size = fleet.size
        self.next = 0

    def route(self, request, state):
        pick = self.next
        self.next = (self.next + 1) % self.size
        return pick
