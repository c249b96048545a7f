"""Fixed exit: every token runs layers 0..1 and halts before layer 2 (early exit at a fixed depth)."""

EXIT_LAYER = 2


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
