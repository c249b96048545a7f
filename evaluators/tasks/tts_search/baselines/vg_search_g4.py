"""VG-Search with a coarser granularity, g = 4: each child is generated 4 steps long before the
verifier sees it (vg_search.py has g = 2; g = 1 is beam_search.py, and g = infinity best_of_n.py).

N candidates per round: each of the N // M kept beams gets M children, g steps long; the
verifier scores every child; the best unfinished children (as many as there are unfinished
slots left) become the next beams. Finished children compete at the end on their score.
"""
N = 8          # candidates per round
M = 4          # children per beam
G = 4          # steps generated between verifications


def search(problem, lm):
    beams = [problem["root"]]
    finished = []          # (score, answer)
    while beams:
        children = [c for group in lm.sample(beams, n=M, steps=G, temperature=0.7) for c in group]
        scores = lm.verify([c["id"] for c in children])
        alive = []
        for child, score in zip(children, scores):
            if child["done"]:
                finished.append((score, child["answer"]))
            else:
                alive.append((score, child["id"]))
        alive.sort(reverse=True)
        slots = max(0, N // M - len(finished))
        beams = [node for _, node in alive[:slots]]
    answered = [(s, a) for s, a in finished if a is not None]
    return max(answered)[1] if answered else None
