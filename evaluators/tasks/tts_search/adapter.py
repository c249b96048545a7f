# Runs inside the candidate process. It wraps the scorer-side `lm` proxy (positional calls
# only) in a small class with keyword arguments and passes it to the candidate's search().
# The scorer re-validates everything, so tampering with this code gains nothing.


class LM:
    """Handle on the generator and verifier. Every call is metered against the FLOPs budget.

    sample(nodes, n=1, steps=1, temperature=1.0) -> for each node, n child-node dicts
    verify(nodes) -> verifier probability (0..1) that each node is correct so far
    budget() -> {"budget", "used", "left", "generator", "verifier"} in FLOPs
    node(nodes) -> the dicts of existing nodes
    A node dict: {"id", "parent", "steps", "done", "answer", "logprob", "tokens"}.
    A refused call (budget spent, bad argument) raises an exception.
    """

    def __init__(self, proxy):
        self._proxy = proxy

    def sample(self, nodes, n=1, steps=1, temperature=1.0):
        return self._proxy.sample(_ids(nodes), int(n), int(steps), float(temperature))

    def verify(self, nodes):
        return self._proxy.verify(_ids(nodes))

    def budget(self):
        return self._proxy.budget()

    def node(self, nodes):
        return self._proxy.node(_ids(nodes))


def _ids(nodes):
    if isinstance(nodes, (int, dict)):
        nodes = [nodes]
    return [int(n["id"]) if isinstance(n, dict) else int(n) for n in nodes]


def run_search(search, problem, proxy):
    return search(problem, LM(proxy))
