"""Fixed exit: every token runs layers 0..6 and halts before layer 7 (early exit at a fixed depth)."""

EXIT_LAYER = 7


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
