"""The task contract: what a task directory holds and how it is loaded.

A task directory contains `task.yaml`, a seed program with EVOLVE-BLOCK markers, a scorer
module exposing `evaluate(candidate, split, ctx) -> dict`, and baseline programs. Built-in
tasks live in `evaluators/tasks/<name>/`; a user's own task is any directory of the same shape.

Splits have roles (`TaskSpec.split_roles`): `train_split` is what the search optimises;
`validation_split` (optional; drawn from the training distribution, disjoint from train and
held-out, the task README saying how) chooses what a campaign hands the user among its top
training programs; `heldout_split` is for reporting only; cascade stages and the functional-hashing
probe have their own splits. `reference_baseline` names the baseline every report compares against.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sandbox.limits import Limits

BUILTIN_ROOT = Path(__file__).resolve().parent / "tasks"  # the task catalogue; this package is the framework


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class TaskError(ValueError):
    """A task is missing or malformed; the message is one line naming what to fix."""


class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["maximize", "minimize"]
    description: str = ""
    unit: str = ""


class DescriptorSpec(BaseModel):
    """A MAP-Elites axis: a task metric or a built-in (code_size, code_lines, ast_nodes)."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="a metric of the task, or code_size, code_lines, ast_nodes")
    range: tuple[float, float] = Field(description="[low, high]; values outside fall in the edge bins")
    bins: int = Field(default=10, ge=1, le=1000, description="cells along this axis")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value):
        if not value[0] < value[1]:
            raise ValueError("must be [low, high] with low < high")
        return value


class BaselineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    description: str = ""
    # Figures measured with `evolve eval TASK --baseline NAME --split SPLIT` (tests re-measure them).
    measured: dict[str, dict[str, float]] = Field(default_factory=dict)


class FingerprintSpec(BaseModel):
    """Functional hashing: run a child on the `split` probe inputs and hash its outputs, floats rounded
    to `digits` significant digits; a child whose outputs equal a known program's is not evaluated further."""
    model_config = ConfigDict(extra="forbid")
    split: str
    digits: int = Field(default=6, ge=1, le=17)


class StageRule(BaseModel):
    """Who goes on after a stage: within `within_parent_pct` % of the parent's score on the stage, or in the
    top `top_fraction` of the campaign's latest `window` children there (either suffices)."""
    model_config = ConfigDict(extra="forbid")
    within_parent_pct: float | None = Field(default=None, ge=0)
    top_fraction: float | None = Field(default=None, gt=0, le=1)
    window: int = Field(default=20, ge=2, le=10_000)

    @model_validator(mode="after")
    def _some_rule(self):
        if self.within_parent_pct is None and self.top_fraction is None:
            raise ValueError("give within_parent_pct or top_fraction (or both)")
        return self


class StageSpec(BaseModel):
    """A cascade stage: a cheap split (or a subset of the training split) that may only reject."""
    model_config = ConfigDict(extra="forbid")
    split: str
    rule: StageRule


class ObjectiveSpec(BaseModel):
    """One axis of the campaign's Pareto front: a task metric and which way is better.

    `scale: log10` measures the hypervolume on log10 of the metric (FLOPs spanning decades), so a
    cheaper point counts by the ratio it saves, not by the absolute FLOPs.
    """
    model_config = ConfigDict(extra="forbid")
    metric: str
    direction: Literal["maximize", "minimize"]
    scale: Literal["linear", "log10"] = "linear"


class ResourcesSpec(BaseModel):
    """What one evaluation needs on the node that runs it (the Ray executor places it where this fits)."""
    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(default=1.0, ge=0)
    gpus: float | None = Field(default=None, ge=0, description="default: 1 when the task wants a GPU and the "
                                                                "cluster has one, else 0")
    memory_mb: int | None = Field(default=None, ge=1)
    custom: dict[str, float] = Field(default_factory=dict, description="custom node resources, e.g. {node2: 1}")


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    entry_point: str
    entry_kind: Literal["function", "class"] = "function"
    signature: str = ""
    seed: str = "seed.py"
    scorer: str = "scorer.py"
    adapter: str | None = None
    metrics: dict[str, MetricSpec]
    score: str = Field(description="what `score` means; higher is always better")
    descriptors: list[DescriptorSpec] = Field(default_factory=list)
    splits: dict[str, str]
    train_split: str = "train"
    heldout_split: str = "heldout"
    validation_split: str | None = Field(
        default=None, description="the split that chooses what a campaign hands the user: drawn from the training "
                                  "distribution, disjoint from train and held-out (the task README says how); the "
                                  "best is the top training program with the best score here, the search never "
                                  "sees it")
    baselines: dict[str, BaselineSpec] = Field(default_factory=dict)
    reference_baseline: str | None = Field(default=None, description="baseline shown next to a campaign's result")
    qd_offset: float | None = Field(default=None, allow_inf_nan=False,
                                    description="score subtracted per cell in the QD score (archive/qd.py); "
                                                "default: the seed's training score")
    limits: dict[str, float] = Field(default_factory=dict)
    jail_packages: list[str] = Field(default_factory=lambda: ["numpy"])
    wants_gpu: bool = False
    gpu_optional: bool = True
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    data_attribution: str = ""
    fingerprint: FingerprintSpec | None = None
    stages: list[StageSpec] = Field(default_factory=list)
    objectives: list[ObjectiveSpec] = Field(default_factory=list,
                                            description="two or more make a Pareto front (archive/front.py)")
    front_reference: dict[str, FiniteFloat] = Field(default_factory=dict,
                                              description="the hypervolume's reference point, one value per "
                                                          "objective metric, worse than any point that counts")
    device: Literal["auto", "cpu", "cuda"] | None = Field(
        default=None, description="where a model-backed scorer runs its model; auto: CUDA when present, else CPU")

    @model_validator(mode="after")
    def _front(self):
        if not self.objectives:
            if self.front_reference:
                raise ValueError("front_reference given without objectives; declare two or more objectives")
            return self
        names = [o.metric for o in self.objectives]
        if len(names) < 2:
            raise ValueError("a front needs two or more objectives; one objective is just the score")
        if len(set(names)) != len(names):
            raise ValueError(f"objectives name a metric twice ({', '.join(names)})")
        for i, objective in enumerate(self.objectives):
            if objective.metric not in self.metrics:
                raise ValueError(f"objectives.{i}.metric: {objective.metric!r} is not one of the task's metrics")
            reference = self.front_reference.get(objective.metric)
            if objective.scale == "log10" and reference is not None and reference <= 0:
                raise ValueError(f"front_reference.{objective.metric}: must be > 0 on a log10 objective")
        if set(self.front_reference) != set(names):
            raise ValueError(f"front_reference must give exactly the objective metrics ({', '.join(names)}); "
                             f"got {', '.join(self.front_reference) or 'none'}")
        return self

    @model_validator(mode="after")
    def _known_splits(self):
        named = [("train_split", self.train_split)] + [(f"stages.{i}.split", st.split)
                                                        for i, st in enumerate(self.stages)]
        if self.validation_split is not None:
            named.append(("validation_split", self.validation_split))
        if self.fingerprint is not None:
            named.append(("fingerprint.split", self.fingerprint.split))
        for key, split in named:
            if split not in self.splits:
                raise ValueError(f"{key}: {split!r} is not one of the task's splits ({', '.join(self.splits)})")
        if self.validation_split is not None:  # the search must never see it: no other role may use it
            others = {self.train_split: "train_split", self.heldout_split: "heldout_split",
                      **{st.split: f"stages.{i}.split" for i, st in enumerate(self.stages)}}
            if self.fingerprint is not None:
                others[self.fingerprint.split] = "fingerprint.split"
            if self.validation_split in others:
                raise ValueError(f"validation_split: {self.validation_split!r} is also the "
                                 f"{others[self.validation_split]}; name a split of its own, disjoint from train "
                                 f"and held-out")
        if self.reference_baseline is not None and self.reference_baseline not in self.baselines:
            raise ValueError(f"reference_baseline: {self.reference_baseline!r} is not one of the task's baselines "
                             f"({', '.join(self.baselines) or 'none'})")
        return self

    def split_roles(self) -> dict[str, str]:
        """Each split's role: train (search), validation (choosing the best), heldout (reporting only), stage
        (a cascade stage), probe (functional hashing) or other (named but unused by a campaign)."""
        roles = {name: "other" for name in self.splits}
        if self.fingerprint is not None:
            roles[self.fingerprint.split] = "probe"
        for stage in self.stages:
            roles[stage.split] = "stage"
        if self.heldout_split in roles:
            roles[self.heldout_split] = "heldout"
        if self.validation_split is not None:
            roles[self.validation_split] = "validation"
        roles[self.train_split] = "train"
        return roles


class Task:
    """A loaded task. Cheap to construct; the scorer module is imported on first use."""

    def __init__(self, root: Path, spec: TaskSpec, builtin: bool):
        self.root = root
        self.spec = spec
        self.builtin = builtin

    def __repr__(self) -> str:
        return f"Task({self.name!r}, root={str(self.root)!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def entry_point(self) -> str:
        return self.spec.entry_point

    @property
    def limits(self) -> Limits:
        return Limits.from_dict(self.spec.limits)

    @functools.cached_property
    def seed_code(self) -> str:
        return self._read(self.spec.seed, "seed program")

    @functools.cached_property
    def adapter_code(self) -> str | None:
        return self._read(self.spec.adapter, "adapter") if self.spec.adapter else None

    def baseline_code(self, name: str) -> str:
        if name not in self.spec.baselines:
            known = ", ".join(sorted(self.spec.baselines)) or "none"
            raise TaskError(f"task {self.name!r} has no baseline {name!r}; known baselines: {known}")
        return self._read(self.spec.baselines[name].path, f"baseline {name!r}")

    def check_split(self, split: str) -> str:
        if split not in self.spec.splits:
            raise TaskError(f"task {self.name!r} has no split {split!r}; splits: {', '.join(self.spec.splits)}")
        return split

    def ref(self) -> dict[str, Any]:
        """How a worker process finds this task again."""
        return {"name": self.name, "dir": None if self.builtin else str(self.root)}

    def _read(self, relative: str, what: str) -> str:
        path = self.root / relative
        if not path.is_file():
            raise TaskError(f"task {self.name!r}: {what} file {path} does not exist")
        return path.read_text()

    def load_scorer(self) -> ModuleType:
        if self.builtin:
            module = importlib.import_module(f"evaluators.tasks.{self.root.name}.{Path(self.spec.scorer).stem}")
        else:
            module = _import_user_scorer(self.root, self.spec.scorer)
        if not callable(getattr(module, "evaluate", None)):
            raise TaskError(f"task {self.name!r}: scorer {self.spec.scorer} does not define evaluate(candidate, split, ctx)")
        return module


def _import_user_scorer(root: Path, scorer: str) -> ModuleType:
    """Import a user task's scorer as a module of a synthetic package so relative imports work."""
    package = "evolve_task_" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, root / "__init__.py",
                                                      submodule_search_locations=[str(root)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        if (root / "__init__.py").exists():
            spec.loader.exec_module(module)
    return importlib.import_module(f"{package}.{Path(scorer).stem}")


def _load_spec(root: Path) -> TaskSpec:
    path = root / "task.yaml"
    if not path.is_file():
        raise TaskError(f"{root} is not a task directory: it has no task.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return TaskSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise TaskError(f"{path}: {key}: {error['msg']}") from None


def builtin_task_names() -> list[str]:
    return sorted(p.parent.name for p in BUILTIN_ROOT.glob("*/task.yaml"))


@functools.lru_cache(maxsize=None)
def load_builtin(name: str) -> Task:
    root = BUILTIN_ROOT / name
    if not (root / "task.yaml").is_file():
        known = ", ".join(builtin_task_names())
        raise TaskError(f"unknown task {name!r}; built-in tasks: {known} (or pass --task-dir DIR)")
    return Task(root, _load_spec(root), builtin=True)


def load_task_dir(directory: str | Path) -> Task:
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise TaskError(f"task directory {directory} does not exist")
    return Task(root, _load_spec(root), builtin=False)


def load_task(name: str | None = None, task_dir: str | Path | None = None) -> Task:
    if task_dir:
        return load_task_dir(task_dir)
    if not name:
        raise TaskError("no task given; name a built-in task or pass --task-dir DIR")
    return load_builtin(name)


def load_task_ref(ref: dict[str, Any]) -> Task:
    return load_task(ref.get("name"), ref.get("dir"))
