"""One round trip to the candidate: the evaluation's cost is the sandbox's overhead."""
from evaluators.api import Candidate, EvalContext


def evaluate(candidate: Candidate, split: str, ctx: EvalContext) -> dict:
    correct = candidate.call(21) == 42
    return {"score": float(correct), "metrics": {"correct": int(correct)}}
