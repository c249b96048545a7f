"""The reasoning domain: chains of last-digit (mod 10) arithmetic, solved one checkable step per line.

A problem is a start digit and a list of operations, written as one line::

    7+5*3-8

and solved (canonical solution) one operation per line, then the answer::

    7+5=2
    2*3=6
    6-8=8
    #8

Operations are applied strictly left to right and every result is taken mod 10 (`+` and `-`
with 1..9; `*` with 3, 7 or 9, which permute the digits, so answers stay uniform instead of
collapsing to 0), so every step has the same width and is checked by a program. The
number of operations sets the difficulty level (3, 5, 7, 10). A step is correct when it
equals the canonical step, so a prefix of a solution is "on track" exactly when it is a prefix
of the canonical solution: that is the label the verifier is judged against.
"""
from __future__ import annotations

import dataclasses
import random

PAD, BOS, EOS = 0, 1, 2
CHARS = "0123456789+-*=#\n"
VOCAB = ["<pad>", "<bos>", "<eos>"] + list(CHARS)
STOI = {c: i + 3 for i, c in enumerate(CHARS)}
NEWLINE = STOI["\n"]
BOUNDARIES = (NEWLINE, EOS)
LEVEL_OPS = {1: 3, 2: 5, 3: 7, 4: 10}
MAX_LEN = 96


@dataclasses.dataclass(frozen=True)
class Problem:
    start: int
    ops: tuple[tuple[str, int], ...]

    @property
    def level(self) -> int:
        return {n: lv for lv, n in LEVEL_OPS.items()}[len(self.ops)]

    @property
    def text(self) -> str:
        return str(self.start) + "".join(f"{op}{b}" for op, b in self.ops)

    def values(self) -> list[int]:
        out = [self.start]
        for op, b in self.ops:
            out.append(apply(out[-1], op, b))
        return out

    @property
    def answer(self) -> int:
        return self.values()[-1]

    def steps(self) -> list[str]:
        """The canonical solution, one string per step, each ending with its boundary."""
        vals = self.values()
        lines = [f"{vals[i]}{op}{b}={vals[i + 1]}\n" for i, (op, b) in enumerate(self.ops)]
        return lines + [f"#{vals[-1]}"]


def apply(a: int, op: str, b: int) -> int:
    return (a + b if op == "+" else a - b if op == "-" else a * b) % 10


def random_problem(rng: random.Random, level: int) -> Problem:
    start = rng.randint(0, 9)
    ops = []
    for _ in range(LEVEL_OPS[level]):
        op = rng.choice("+-*")
        ops.append((op, rng.choice((3, 7, 9)) if op == "*" else rng.randint(1, 9)))
    return Problem(start, tuple(ops))


def problems(seed: int, per_level: int, levels=(1, 2, 3, 4), exclude: set[str] | None = None) -> list[Problem]:
    """`per_level` distinct problems of each level, reproducible from `seed`."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out = []
    for level in levels:
        made = 0
        while made < per_level:
            p = random_problem(rng, level)
            if p.text not in seen:
                seen.add(p.text)
                out.append(p)
                made += 1
    return out


def encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def decode(tokens) -> str:
    return "".join(VOCAB[t] if t >= 3 else "" for t in tokens)


def prompt_tokens(problem: Problem) -> list[int]:
    return [BOS] + encode(problem.text + "\n")


def solution_tokens(problem: Problem) -> list[int]:
    return encode("".join(problem.steps())) + [EOS]


def split_steps(tokens) -> list[list[int]]:
    """Solution tokens (after the prompt) cut after each boundary token."""
    steps, current = [], []
    for t in tokens:
        current.append(int(t))
        if t in BOUNDARIES:
            steps.append(current)
            current = []
    if current:
        steps.append(current)
    return steps


def step_labels(problem: Problem, solution) -> list[bool]:
    """For each (possibly unfinished) step of a sampled solution: is the solution on track up to it?"""
    canonical = [encode(s) for s in problem.steps()]
    canonical[-1] = canonical[-1] + [EOS]
    labels, ok = [], True
    for i, step in enumerate(split_steps(solution)):
        ok = ok and i < len(canonical) and step == canonical[i]
        labels.append(ok)
    return labels


def final_answer(solution) -> int | None:
    """The integer after '#' when the solution ends with a complete answer line, else None."""
    text = decode(solution)
    if "#" not in text:
        return None
    tail = text.rsplit("#", 1)[1].strip()
    if not tail.isdigit() or len(tail) > 6 or (solution and int(solution[-1]) != EOS):
        return None
    return int(tail)
