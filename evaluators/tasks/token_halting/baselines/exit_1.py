"""Fixed exit: every token runs layers 0..0 and halts before layer 1 (early exit at a fixed depth)."""

EXIT_LAYER = 1


def halt(layer, tokens):
    return [layer >= EXIT_LAYER] * len(tokens["stream"])
