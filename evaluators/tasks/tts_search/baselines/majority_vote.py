"""Majority vote (self-consistency): N full solutions at temperature 0.7, the most common answer wins."""
from collections import Counter

N = 8


def search(problem, lm):
    children = lm.sample([problem["root"]], n=N, steps=0, temperature=0.7)[0]
    answers = [c["answer"] for c in children if c["answer"] is not None]
    if not answers:
        return None
    return Counter(answers).most_common(1)[0][0]
