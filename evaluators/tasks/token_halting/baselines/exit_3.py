"""Fixed exit: every token runs layers 0..2 and halts before layer 3 (early exit at a fixed depth)."""

EXIT_LAYER = 3


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
