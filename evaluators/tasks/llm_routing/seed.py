"""LLM request router for a heterogeneous fleet (Llama2-70B on 2 x H100 and on 4 x A100 replicas,
continuous batching). One Router object is created per scenario and called once per arriving
request; it returns the index of the replica that will serve the request.

Router(fleet): fleet.size, fleet.types (list of "h100x2" / "a100x4"), fleet.kv_capacity,
fleet.max_batch, fleet.gpus, fleet.max_prefill_tokens (numpy arrays over replicas), fleet.seed.
route(request, state) -> int in [0, fleet.size), where request has .index, .now (seconds) and
.prompt_tokens (the output length is unknown, as for a real router), and state holds numpy
arrays over replicas: queued (waiting requests), running (requests in the batch), tokens_in_flight
(prompt + generated tokens of unfinished requests), kv_used (tokens in the KV cache),
recent_ttft (moving average of observed time to first token, s), generated (output tokens so
far), kv_capacity, max_batch. Score: % of requests meeting both their TTFT and TPOT SLOs.
"""
import numpy as np


# EVOLVE-BLOCK-START
class Router:
    """Least outstanding tokens with tunable extra terms (all start at zero weight except a
    penalty for replicas whose free KV cache cannot hold the prompt)."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.speed = np.where(np.array(fleet.types) == "h100x2", 1.0, 1.0)

    def route(self, request, state):
        tokens = state.tokens_in_flight + request.prompt_tokens
        room = state.kv_capacity - state.kv_used - request.prompt_tokens
        score = tokens / self.speed + 0.0 * state.queued + 0.0 * state.recent_ttft
        score = score + 100000.0 * (room < 0)
        return int(np.argmin(score))
# EVOLVE-BLOCK-END
