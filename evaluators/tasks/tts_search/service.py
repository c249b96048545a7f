"""The scorer-side handle a search policy gets as `lm`: metered generator and verifier calls.

One `SearchLM` serves one problem. It keeps every partial solution the policy has produced as
a node (the token sequence stays here; the policy only sees ids and a few facts about each
node), runs the generator and the verifier on the trusted side, books their FLOPs with
FlopCounterMode (evaluators.tasks.models.flops.Meter) and enforces the problem's FLOPs budget: the
call that goes over the budget is refused, as is every later call, and the problem counts as
wrong whatever the policy answers.

The policy never sees the problem text or any step's text: it could otherwise compute the
answer (or check each step) itself for free. It sees the problem's level and number of
operations, and for each node: parent, depth in steps, whether it is finished, its final
answer if finished, and the generator's log-probability of its last segment.
"""
from __future__ import annotations

import dataclasses

import torch

from evaluators.api import ServiceRefusal
from evaluators.tasks.models import arith
from evaluators.tasks.models.decoding import continue_batch, solution_probabilities
from evaluators.tasks.models.flops import Meter

MAX_ROWS_PER_CALL = 256      # len(nodes) * n for one sample call
MAX_NODES_PER_CALL = 256
MAX_STEPS = 16
MAX_NODES = 5000             # nodes per problem


@dataclasses.dataclass
class Node:
    id: int
    parent: int
    tokens: list[int]        # solution tokens (after the prompt)
    steps: int               # complete steps (boundaries) so far
    done: bool
    answer: int | None
    logprob: float           # log-probability of the segment that made this node
    score: float | None = None

    def info(self) -> dict:
        return {"id": self.id, "parent": self.parent, "steps": self.steps, "done": self.done,
                "answer": self.answer, "logprob": round(self.logprob, 6), "tokens": len(self.tokens)}


class SearchLM:
    sandbox_methods = ("sample", "verify", "budget", "node")

    def __init__(self, problem: arith.Problem, generator, verifier, budget: float, seed: int, known: dict):
        self.problem = problem
        self.generator = generator
        self.verifier = verifier
        self.budget_flops = float(budget)
        self.meter = Meter(known=known)
        self.rng = torch.Generator(device=next(generator.parameters()).device).manual_seed(seed)
        self.prompt = arith.prompt_tokens(problem)
        self.nodes = [Node(0, -1, [], 0, False, None, 0.0)]
        self.exceeded = False

    # --- methods the candidate may call ---------------------------------------------------
    def sample(self, nodes, n=1, steps=1, temperature=1.0) -> list[list[dict]]:
        """n continuations of each node, each through `steps` more step boundaries (0: to the end)."""
        self._check_open()
        ids = self._node_ids(nodes)
        n, steps = self._int(n, "n", 1, MAX_ROWS_PER_CALL), self._int(steps, "steps", 0, MAX_STEPS)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise ServiceRefusal("temperature must be a number in [0, 2]")
        if len(ids) * n > MAX_ROWS_PER_CALL:
            raise ServiceRefusal(f"at most {MAX_ROWS_PER_CALL} continuations per call (nodes x n)")
        if len(self.nodes) + len(ids) * n > MAX_NODES:
            raise ServiceRefusal(f"at most {MAX_NODES} nodes per problem")
        for i in ids:
            if self.nodes[i].done:
                raise ServiceRefusal(f"node {i} is finished; it cannot be continued")
        groups: dict[int, list[int]] = {}
        for i in ids:
            groups.setdefault(len(self.nodes[i].tokens), []).append(i)
        made: dict[int, list[Node]] = {}
        for group in groups.values():
            prefixes = [self.prompt + self.nodes[i].tokens for i in group]
            results = continue_batch(self.generator, self.meter, "generator", prefixes, n,
                                     boundaries=arith.BOUNDARIES, eos=arith.EOS, steps=steps,
                                     temperature=float(temperature), generator=self.rng)
            for i, samples in zip(group, results):
                made[i] = [self._child(i, s) for s in samples]
        self._charge()
        return [[child.info() for child in made[i]] for i in ids]

    def verify(self, nodes) -> list[float]:
        """The verifier's probability that each node's solution is correct so far."""
        self._check_open()
        ids = self._node_ids(nodes)
        scores = solution_probabilities(self.verifier, self.meter, "verifier",
                                        [self.prompt + self.nodes[i].tokens for i in ids], [len(self.prompt)] * len(ids),
                                        pad=arith.PAD)
        for i, s in zip(ids, scores):
            self.nodes[i].score = s
        self._charge()
        return [round(float(s), 6) for s in scores]

    def budget(self) -> dict:
        used = self.used
        return {"budget": self.budget_flops, "used": float(used), "left": float(self.budget_flops - used),
                "generator": float(self.meter.flops("generator")), "verifier": float(self.meter.flops("verifier"))}

    def node(self, nodes) -> list[dict]:
        """Facts about nodes already made (the same dicts `sample` returned)."""
        return [self.nodes[i].info() for i in self._node_ids(nodes)]

    # --- scorer side ----------------------------------------------------------------------
    @property
    def used(self) -> int:
        return self.meter.flops()

    def _child(self, parent: int, sample) -> Node:
        base = self.nodes[parent]
        tokens = base.tokens + sample.tokens
        steps = base.steps + sum(t in arith.BOUNDARIES for t in sample.tokens)
        done = sample.finished
        node = Node(len(self.nodes), parent, tokens, steps, done,
                    arith.final_answer(tokens) if done else None, sample.logprob)
        self.nodes.append(node)
        return node

    def _charge(self) -> None:
        if self.used > self.budget_flops:
            self.exceeded = True
            raise ServiceRefusal(f"FLOPs budget exceeded ({self.used:.3g} > {self.budget_flops:.3g}); "
                                 "this problem counts as wrong")

    def _check_open(self) -> None:
        if self.exceeded:
            raise ServiceRefusal("the FLOPs budget of this problem is spent; the problem counts as wrong")

    def _node_ids(self, nodes) -> list[int]:
        if not isinstance(nodes, list) or not nodes or len(nodes) > MAX_NODES_PER_CALL:
            raise ServiceRefusal(f"nodes must be a non-empty list of at most {MAX_NODES_PER_CALL} node ids")
        for i in nodes:
            if type(i) is not int or not 0 <= i < len(self.nodes):
                raise ServiceRefusal(f"{i!r} is not a node id of this problem (0..{len(self.nodes) - 1})")
        return list(nodes)

    @staticmethod
    def _int(value, name: str, low: int, high: int) -> int:
        if type(value) is not int or not low <= value <= high:
            raise ServiceRefusal(f"{name} must be an integer in [{low}, {high}]")
        return value
