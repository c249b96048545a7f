"""Token halting policy: which tokens stop being updated before each layer of a deep language model."""


# EVOLVE-BLOCK-START
def halt(layer, tokens):
    """Returns one bool per token shown: True halts it before `layer` (1..7 of 8 layers).

    A halted token skips the attention and MLP of `layer` and every later layer; its hidden
    state stays frozen and is what predicts the next character. Called once per layer for the
    still-active tokens at one position of every text stream (streams are independent texts).
    tokens: {"position": int (0..127, the same for all tokens shown),
             "stream": [stream index, ...],
             "update_norm": [norm of the residual update layer-1 added, ...],
             "relative_update": [update_norm / norm of the hidden state before layer-1, ...],
             "cosine": [cosine between the hidden state before and after layer-1, ...],
             "entropy": [attention entropy (nats, mean over heads) at layer-1, ...]}
    """
    # QuickSilver's rule: a token whose last update was small has converged. The threshold may
    # change with depth (per_layer), with how spread the token's attention was (entropy_weight;
    # median entropy is about 3 nats), and halting may start later (min_layer). With per_layer
    # and entropy_weight at 0 this is QuickSilver's rule with a fixed threshold.
    min_layer = 1
    threshold = 1.2
    per_layer = 0.0
    entropy_weight = 0.0
    if layer < min_layer:
        return [False] * len(tokens["stream"])
    base = threshold + per_layer * (layer - min_layer)
    return [u < base * (1 + entropy_weight * (e - 3.0)) for u, e in zip(tokens["update_norm"], tokens["entropy"])]
# EVOLVE-BLOCK-END
