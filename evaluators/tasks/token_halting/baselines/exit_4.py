"""Fixed exit: every token runs layers 0..3 and halts before layer 4 (early exit at a fixed depth)."""

EXIT_LAYER = 4


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
