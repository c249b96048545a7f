"""Best-of-N: N full solutions at temperature 0.7; the verifier picks the one it rates highest."""
N = 8


def search(problem, lm):
    children = lm.sample([problem["root"]], n=N, steps=0, temperature=0.7)[0]
    finished = [c for c in children if c["done"] and c["answer"] is not None]
    if not finished:
        return None
    scores = lm.verify([c["id"] for c in finished])
    best = max(range(len(finished)), key=lambda i: scores[i])
    return finished[best]["answer"]
