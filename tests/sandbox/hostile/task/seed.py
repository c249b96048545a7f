# EVOLVE-BLOCK-START
def solve(x):
    return 2 * x
# EVOLVE-BLOCK-END
