"""Fixed exit: every token runs layers 0..5 and halts before layer 6 (early exit at a fixed depth)."""

EXIT_LAYER = 6


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
