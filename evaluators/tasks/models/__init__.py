"""Small transformers trained and shipped by the project, and the machinery to meter them.

  transformer  the model (decoder-only, KV cache)
  flops        FlopCounterMode metering and the analytic FLOPs formula
  decoding     metered KV-cached sampling and verifier scoring
  arith        the arithmetic reasoning domain (generator and verifier)
  corpus       the text corpus for the target and draft language models
  train        `python -m evaluators.tasks.models.train`: trains and saves every model
  registry     loads the shipped weights safely on the chosen device
"""
