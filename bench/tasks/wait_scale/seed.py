"""wait_scale bench task: a quadratic with three tunable coefficients."""


# EVOLVE-BLOCK-START
def f(x):
    a = 0.5
    b = 0.25
    c = 0.125
    return a * x * x + b * x + c
# EVOLVE-BLOCK-END
