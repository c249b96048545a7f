"""The task catalogue: one sub-package per built-in task (task.yaml, seed, scorer, baselines, data,
README), plus `models`, the small language models the model-backed tasks run. The framework that
loads and runs a task is the package above (evaluators/task.py, host.py, runner.py)."""
