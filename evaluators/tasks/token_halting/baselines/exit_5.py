"""Fixed exit: every token runs layers 0..4 and halts before layer 5 (early exit at a fixed depth)."""

EXIT_LAYER = 5


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
