"""Train every shipped model on the CPU, seeded and deterministic:

    python -m evaluators.tasks.models.train                 # all four models (times per model: weights/manifest.json)
    python -m evaluators.tasks.models.train --only draft    # one model
    python -m evaluators.tasks.models.train --scale 0.01 --out /tmp/w   # a smoke run

Models (sizes in SPECS):
  generator  solves arithmetic chains step by step (arith.py); trained on canonical solutions
             for a limited number of steps, so it stays imperfect on long chains;
  verifier   process verifier: the generator trained further (a stronger model of the same
             family); it scores a partial solution by the probability it gives its steps
             (decoding.solution_probabilities), which is near 1 exactly when it would have
             written the same steps;
  target     character language model of the standard-library docstrings (corpus.py);
  draft      a much smaller language model of the same text.

Weights go to `<out>/<name>.pt` (a plain state dict, loaded with torch.load(weights_only=True))
and `<out>/manifest.json` holds each config, the training time and the evaluation figures.
Results are identical from run to run with the same --threads (deterministic kernels only).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from . import arith, corpus
from .decoding import continue_batch, solution_probabilities
from .flops import Meter
from .transformer import Config, Transformer

WEIGHTS = Path(__file__).resolve().parent / "weights"
SEED = 1234
# Seeds of the problem sets the tasks evaluate on; training never sees those problems.
EVAL_SEEDS = {"tts_train": 101, "tts_heldout": 202, "report": 303, "tts_validation": 404}
# The shipped generator predates the validation split: its training stream excluded only these
# (excluding more would change the stream and so the weights). `generator_training_texts` replays
# that stream, and tts_search's validation split leaves out the few problems it contains.
GENERATOR_EXCLUDED = ("tts_train", "tts_heldout", "report")


@dataclasses.dataclass(frozen=True)
class Spec:
    config: Config
    steps: int
    batch: int
    lr: float
    init_from: str | None = None  # start from this (already trained) model's weights


SPECS = {
    "generator": Spec(Config(vocab=len(arith.VOCAB), d_model=96, n_layers=4, n_heads=4, max_len=arith.MAX_LEN),
                      steps=650, batch=32, lr=3e-3),
    "verifier": Spec(Config(vocab=len(arith.VOCAB), d_model=96, n_layers=4, n_heads=4, max_len=arith.MAX_LEN),
                     steps=250, batch=32, lr=2e-3, init_from="generator"),
    "target": Spec(Config(vocab=corpus.VOCAB_SIZE, d_model=128, n_layers=3, n_heads=4, max_len=160),
                   steps=1800, batch=16, lr=3e-3),
    "draft": Spec(Config(vocab=corpus.VOCAB_SIZE, d_model=64, n_layers=1, n_heads=2, max_len=160),
                  steps=1500, batch=16, lr=4e-3),
    # token_halting's model: narrow and deep, so that stopping a token's updates part-way matters.
    "deep": Spec(Config(vocab=corpus.VOCAB_SIZE, d_model=64, n_layers=8, n_heads=4, max_len=160),
                 steps=1000, batch=16, lr=3e-3),
}
TEXT_WINDOW = 128


# Per-level sizes the tasks and reports draw from those seeds. arith.problems(seed, n) draws the
# levels one after another from one stream, so beyond level 1 a smaller set is not part of a
# larger one: each size in use is listed.
EVAL_SIZES = (8, 25, 50, 60, 100, 200)


@functools.lru_cache(maxsize=None)
def eval_problem_texts(names: tuple[str, ...] = tuple(EVAL_SEEDS)) -> frozenset[str]:
    """Every problem set of EVAL_SIZES drawn from each named evaluation seed."""
    return frozenset(p.text for name in names for n in EVAL_SIZES for p in arith.problems(EVAL_SEEDS[name], n))


def _lr(step: int, total: int, peak: float) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _fit(model: Transformer, batches, steps: int, lr: float, loss_fn, log_name: str) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    model.train()
    losses = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        loss = loss_fn(model, next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            print(f"  {log_name} step {step + 1}/{steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f}", flush=True)
    model.eval()
    return losses


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


# --- generator -----------------------------------------------------------------------------
def training_problems(rng: random.Random, exclude: frozenset[str]):
    """The endless stream of problems a model learns to solve from: random levels, none excluded."""
    while True:
        p = arith.random_problem(rng, rng.choice(list(arith.LEVEL_OPS)))
        while p.text in exclude:
            p = arith.random_problem(rng, p.level)
        yield p


@functools.lru_cache(maxsize=1)
def generator_training_texts() -> frozenset[str]:
    """Every problem the shipped generator was trained on (its full-scale run, replayed)."""
    spec = SPECS["generator"]
    stream = training_problems(random.Random(f"{SEED}-generator"), eval_problem_texts(GENERATOR_EXCLUDED))
    return frozenset(next(stream).text for _ in range(spec.steps * spec.batch))


def _generator_batches(rng: random.Random, batch: int, exclude: frozenset[str]):
    stream = training_problems(rng, exclude)
    while True:
        xs, ys = [], []
        for _ in range(batch):
            p = next(stream)
            prompt, sol = arith.prompt_tokens(p), arith.solution_tokens(p)
            seq = prompt + sol
            xs.append(seq[:-1])
            ys.append([-100] * (len(prompt) - 1) + sol)
        yield _pad(xs, arith.PAD), _pad(ys, -100)


def _lm_loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=-100)


def sample_solutions(model, problems, n: int, temperature: float, seed: int) -> list:
    """n sampled solutions per problem, batching problems whose prompts have equal length."""
    meter, gen = Meter(count=False), torch.Generator().manual_seed(seed)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(problems):
        by_len.setdefault(len(arith.prompt_tokens(p)), []).append(i)
    out: list = [None] * len(problems)
    for _, idx in sorted(by_len.items()):
        for start in range(0, len(idx), 64):
            chunk = idx[start:start + 64]
            res = continue_batch(model, meter, "generator", [arith.prompt_tokens(problems[i]) for i in chunk], n,
                                 boundaries=arith.BOUNDARIES, eos=arith.EOS, steps=0,
                                 temperature=temperature, generator=gen)
            for i, r in zip(chunk, res):
                out[i] = r
    return out


def generator_report(model, per_level: int = 100) -> dict:
    probs = arith.problems(EVAL_SEEDS["report"], per_level)
    greedy = sample_solutions(model, probs, 1, 0.0, 0)
    sampled = sample_solutions(model, probs, 8, 1.0, 1)
    report = {}
    for level in arith.LEVEL_OPS:
        idx = [i for i, p in enumerate(probs) if p.level == level]
        g = sum(arith.final_answer(greedy[i][0].tokens) == probs[i].answer for i in idx) / len(idx)
        s = [sum(arith.final_answer(s.tokens) == probs[i].answer for s in sampled[i]) for i in idx]
        report[f"level{level}"] = {"greedy_acc": round(g, 3), "sample_acc": round(sum(s) / (8 * len(idx)), 3),
                                   "pass_at_8": round(sum(c > 0 for c in s) / len(idx), 3)}
    return report


# --- verifier ------------------------------------------------------------------------------
def verifier_examples(generator, problems, n: int, seed: int, temperature: float = 1.0):
    """(tokens, step-end positions, step labels, dense labels) per sampled solution, n per problem,
    grouped problem by problem. Dense labels: at every solution token, whether the solution so
    far is a prefix of the canonical solution."""
    examples = []
    for p, samples in zip(problems, sample_solutions(generator, problems, n, temperature, seed)):
        prompt, canonical = arith.prompt_tokens(p), arith.solution_tokens(p)
        for s in samples:
            labels = arith.step_labels(p, s.tokens)
            ends, pos = [], len(prompt) - 1
            for step in arith.split_steps(s.tokens):
                pos += len(step)
                ends.append(pos)
            dense, ok = [], True
            for i, t in enumerate(s.tokens):
                ok = ok and i < len(canonical) and canonical[i] == t
                dense.append(ok)
            examples.append((prompt + s.tokens, ends, labels, dense))
    return examples


def auroc(scores: list[float], labels: list[bool]) -> float:
    """Probability a random positive outscores a random negative (ties count half)."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def _round(value: float) -> float | None:
    return None if value != value else round(value, 4)


def verifier_report(verifier, examples, per_problem: int) -> dict:
    """How well the verifier ranks: AUROC over every step end, AUROC over finished solutions,
    and the accuracy of picking its favourite among each problem's `per_problem` samples
    (examples are grouped that way). The last is what search relies on: pooled AUROCs also
    reward telling easy problems from hard ones, which picks nothing."""
    meter = Meter(count=False)
    prefixes, starts, labels, finals = [], [], [], []
    for tokens, ends, labs, dense in examples:
        for end, lab in zip(ends, labs):
            prefixes.append(tokens[:end + 1])
            starts.append(len(tokens) - len(dense))
            labels.append(lab)
        finals.append(len(prefixes) - 1)
    scores = []
    for start in range(0, len(prefixes), 256):
        scores += solution_probabilities(verifier, meter, "verifier", prefixes[start:start + 256],
                                         starts[start:start + 256], pad=arith.PAD)
    final_scores, final_labels = [scores[i] for i in finals], [labels[i] for i in finals]
    groups = range(0, len(finals), per_problem)
    picked = [max(range(g, g + per_problem), key=lambda i: final_scores[i]) for g in groups]
    return {"step_auroc": _round(auroc(scores, labels)), "steps": len(labels),
            "positive_fraction": round(sum(labels) / len(labels), 3),
            "final_auroc": _round(auroc(final_scores, final_labels)),
            "sample_accuracy": round(sum(final_labels) / len(final_labels), 3),
            f"best_of_{per_problem}_accuracy": round(sum(final_labels[i] for i in picked) / len(picked), 3),
            f"pass_at_{per_problem}": round(sum(any(final_labels[g:g + per_problem]) for g in groups) / len(picked), 3)}


# --- text models ---------------------------------------------------------------------------
def _text_batches(rng: random.Random, tokens: list[int], batch: int):
    data = torch.tensor(tokens)
    while True:
        starts = torch.tensor([rng.randrange(len(tokens) - TEXT_WINDOW - 1) for _ in range(batch)])
        idx = starts[:, None] + torch.arange(TEXT_WINDOW + 1)
        chunk = data[idx]
        yield chunk[:, :-1], chunk[:, 1:]


def text_report(model) -> dict:
    _, heldout = corpus.splits()
    tokens = torch.tensor(corpus.encode(heldout))
    n = (len(tokens) - 1) // TEXT_WINDOW
    x = tokens[:n * TEXT_WINDOW].view(n, TEXT_WINDOW)
    y = tokens[1:n * TEXT_WINDOW + 1].view(n, TEXT_WINDOW)
    with torch.inference_mode():
        loss = sum(float(F.cross_entropy(model(x[i:i + 64]).flatten(0, 1), y[i:i + 64].flatten(), reduction="sum"))
                   for i in range(0, n, 64)) / y.numel()
    return {"heldout_bits_per_char": round(loss / math.log(2), 4)}


def weights_digest(path: Path) -> str:
    """sha256 of a weights file, as the manifest records it (tests check the shipped files against it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- driver --------------------------------------------------------------------------------
def train_one(name: str, scale: float, out: Path, models: dict) -> dict:
    spec = SPECS[name]
    steps = max(2, int(spec.steps * scale))
    torch.manual_seed(SEED)
    rng = random.Random(f"{SEED}-{name}")
    model = Transformer(spec.config)
    started = time.perf_counter()
    report: dict = {}
    if name == "generator":
        batches = _generator_batches(rng, spec.batch, eval_problem_texts(GENERATOR_EXCLUDED))
        losses = _fit(model, batches, steps, spec.lr, _lm_loss, name)
    elif name == "verifier":
        # The generator's weights, trained further on canonical solutions: a model of the same
        # family that makes far fewer arithmetic slips, reading a partial solution and giving the
        # probability that it would have written exactly those steps (decoding.solution_probabilities).
        generator = models[spec.init_from]
        model.load_state_dict(generator.state_dict())
        losses = _fit(model, _generator_batches(rng, spec.batch, eval_problem_texts()), steps, spec.lr, _lm_loss, name)
    else:
        train_text, _ = corpus.splits()
        losses = _fit(model, _text_batches(rng, corpus.encode(train_text), spec.batch), steps, spec.lr, _lm_loss, name)
    seconds = time.perf_counter() - started
    if name == "generator":
        report = generator_report(model, 100 if scale >= 1 else max(4, int(100 * scale)))
    elif name == "verifier":
        per_level = 60 if scale >= 1 else max(2, int(60 * scale))
        samples = verifier_examples(models[spec.init_from], arith.problems(EVAL_SEEDS["report"], per_level), 8, SEED + 9, 0.7)
        report = verifier_report(model, samples, 8)
    elif name in ("target", "draft", "deep"):
        report = text_report(model)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"{name}.pt")
    digest = hashlib.sha256((out / f"{name}.pt").read_bytes()).hexdigest()
    models[name] = model
    entry = {"config": spec.config.to_dict(), "params": model.n_params(), "steps": steps, "batch": spec.batch,
             "lr": spec.lr, "seed": SEED, "sha256": digest, "train_seconds": round(seconds, 1), "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
             "report": report}
    if spec.init_from:
        entry["init_from"] = spec.init_from
    print(f"{name}: {json.dumps(entry)}", flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluators.tasks.models.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=list(SPECS), action="append", help="train only these models")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step count (smoke runs)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    names = args.only or list(SPECS)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    models: dict = {}
    base = SPECS["verifier"].init_from
    if "verifier" in names and base not in names:
        from .registry import load_model
        models[base] = load_model(base, weights=args.out)
    command = "python -m evaluators.tasks.models.train " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    for name in [n for n in SPECS if n in names]:
        manifest[name] = train_one(name, args.scale, args.out, models)
        manifest[name].update(command=command, threads=args.threads, torch=torch.__version__)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"trained {', '.join(names)} in {time.perf_counter() - started:.0f} s; wrote {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
