"""500 ms of waiting on the trusted side, then one round trip to the candidate."""
import time

WAIT_S = 0.5


def evaluate(candidate, split, ctx) -> dict:
    time.sleep(WAIT_S)
    correct = candidate.call(21) == 42
    return {"score": float(correct), "metrics": {"correct": int(correct)}}
