"""Campaign configuration: a YAML file plus CLI overrides, validated into typed models.

Every invalid value produces one line naming the key, the bad value and what is allowed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import UserError


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class DescriptorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    range: tuple[float, float]
    bins: int = Field(default=8, ge=1, le=1000)

    @field_validator("range")
    @classmethod
    def _ordered(cls, value):
        if not value[0] < value[1]:
            raise ValueError("must be [low, high] with low < high")
        return value


class IslandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=2, ge=1, le=64)
    migration_interval: int = Field(default=25, ge=1, description="iterations between ring migrations")


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exploit: float = Field(default=0.4, ge=0)
    explore: float = Field(default=0.4, ge=0)
    frontier: float = Field(default=0.2, ge=0)
    top_inspirations: int = Field(default=2, ge=0, le=16)
    diverse_inspirations: int = Field(default=1, ge=0, le=16)

    @model_validator(mode="after")
    def _some_weight(self):
        if self.exploit + self.explore + self.frontier <= 0:
            raise ValueError("exploit, explore and frontier cannot all be 0")
        return self


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wall_s: float | None = Field(default=None, gt=0)
    cpu_s: float | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, ge=64)
    nproc: int | None = Field(default=None, ge=1)
    fsize_mb: int | None = Field(default=None, ge=1)


class CampaignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str | None = None
    task_dir: str | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    iterations: int = Field(default=100, ge=1, le=10_000_000)
    seed: int = Field(default=0, ge=0)
    workers: int = Field(default_factory=default_workers, ge=1, le=256)
    proposals: int | None = Field(default=None, ge=1, le=1024, description="mutations in flight")
    sandbox: Literal["process", "docker"] = "process"
    jail: Literal["auto", "bwrap", "none"] = "auto"
    llm: list[str] = Field(default_factory=lambda: ["offline"])
    operators: dict[str, float] = Field(default_factory=dict, description="offline operator weights")
    descriptors: list[DescriptorConfig] | None = None
    islands: IslandConfig = Field(default_factory=IslandConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    heldout_report: bool = True

    @model_validator(mode="after")
    def _one_task(self):
        if bool(self.task) == bool(self.task_dir):
            raise ValueError("give exactly one of task (a built-in task name) or task_dir (a task directory)")
        return self

    @field_validator("llm")
    @classmethod
    def _known_llm(cls, value):
        if not value:
            raise ValueError("needs at least one mutator, e.g. offline")
        for spec in value:
            if spec.split(":", 1)[0] not in ("offline",):
                raise ValueError(f"unknown mutator {spec!r}; available: offline")
        return value

    def in_flight(self) -> tuple[int, int]:
        """(proposals, evaluations) in flight; strictly sequential with one worker and one proposal."""
        proposals = self.proposals or self.workers
        return proposals, self.workers


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not key:
        return message
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(CampaignConfig.model_fields)
        return f"{key}: unknown key; allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{key}: required"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{key}: {shown} is not allowed: {message}"


def build_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> CampaignConfig:
    """Load the YAML file (if any), apply non-None overrides, validate. Raises UserError."""
    raw: dict[str, Any] = {}
    source = "config"
    if file:
        path = Path(file)
        source = str(path)
        if not path.is_file():
            raise UserError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise UserError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: the top level must be a mapping of keys to values")
        raw.update(loaded)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "task" in overrides:  # a task named on the command line replaces the file's, of either kind
        raw.pop("task_dir", None)
    if "task_dir" in overrides:
        raw.pop("task", None)
    raw.update(overrides)
    try:
        return CampaignConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{source} error: {_describe(exc.errors()[0])}") from None
