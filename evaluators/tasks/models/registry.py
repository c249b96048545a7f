"""Load the shipped models on a device, safely (state dicts only, `weights_only=True`)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from .transformer import Config, Transformer

WEIGHTS = Path(__file__).resolve().parent / "weights"


def pick_device(device: str = "auto") -> torch.device:
    """'auto' is CUDA when a GPU is visible, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@functools.lru_cache(maxsize=None)
def manifest(weights: Path = WEIGHTS) -> dict:
    return json.loads((Path(weights) / "manifest.json").read_text())


def load_model(name: str, device: str = "cpu", weights: Path = WEIGHTS) -> Transformer:
    weights = Path(weights)
    entry = json.loads((weights / "manifest.json").read_text())[name]
    model = Transformer(Config.from_dict(entry["config"]))
    state = torch.load(weights / f"{name}.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(pick_device(device)).eval()


@functools.lru_cache(maxsize=None)
def shared_model(name: str, device: str = "auto") -> Transformer:
    """One loaded copy per process (the scorers' models; never handed to a candidate)."""
    return load_model(name, device)
