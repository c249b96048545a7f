"""Greedy: one solution at temperature 0, no verifier."""


def search(problem, lm):
    (child,), = lm.sample([problem["root"]], n=1, steps=0, temperature=0.0)
    return child["answer"]
