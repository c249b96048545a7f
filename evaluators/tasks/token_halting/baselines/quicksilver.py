"""QuickSilver's dynamic token halting: halt a token once its last residual update is small.

The token halts before layer l when the norm of the update layer l-1 added to its hidden
state is below THRESHOLD. THRESHOLD is calibrated on the training split
(`python -m evaluators.tasks.token_halting.calibrate --write`): the grid value with the best
training score, i.e. the most FLOPs saved within the perplexity budget.
"""

THRESHOLD = 1.4


def halt(layer, tokens):
    return [u < THRESHOLD for u in tokens["update_norm"]]
