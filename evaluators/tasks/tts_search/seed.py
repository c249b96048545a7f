"""Test-time search over a generator and a process-reward verifier, under a FLOPs budget."""
from collections import defaultdict


# EVOLVE-BLOCK-START
def search(problem, lm):
    """Returns the final answer (an int) of problem `problem` using the metered handle `lm`.

    problem: {"id", "level" (1-4), "n_ops" (steps a correct solution takes), "root" (node id),
              "budget" (FLOPs for this problem)}
    lm.sample(nodes, n=1, steps=1, temperature=1.0): n continuations of each node, each
        `steps` step boundaries long (steps=0: to the end); returns, per node, a list of node
        dicts {"id", "parent", "steps", "done", "answer", "logprob", "tokens"}.
    lm.verify(nodes): the verifier's probability that each node is correct so far.
    lm.budget(): {"budget", "used", "left", "generator", "verifier"} in FLOPs.
    Going over the budget makes the problem wrong.
    """
    n = 4
    children = lm.sample([problem["root"]], n=n, steps=0, temperature=0.8)[0]
    finished = [c for c in children if c["answer"] is not None]
    if not finished:
        return None
    scores = lm.verify([c["id"] for c in finished])
    votes = defaultdict(float)
    for child, score in zip(finished, scores):
        votes[child["answer"]] += score
    return max(votes, key=votes.get)
# EVOLVE-BLOCK-END
