"""Campaign configuration: a YAML file plus CLI overrides, validated into typed models.

Every invalid value produces one line naming the key, the bad value and what is allowed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evaluators.task import DescriptorSpec

from sandbox import BACKENDS

from .errors import UserError
from .executors import EXECUTORS
from .mutators.provider_registry import PROVIDERS as PROVIDER_REGISTRY

SANDBOX_BACKENDS = tuple(BACKENDS)
EXECUTOR_NAMES = tuple(EXECUTORS)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class IslandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=2, ge=1, le=64, description="islands: populations that evolve apart and meet by migration")
    migration_interval: int = Field(default=25, ge=1, description="iterations between ring migrations")


class SamplingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exploit: float = Field(default=0.4, ge=0, description="weight of taking the island's best elite as the parent")
    explore: float = Field(default=0.4, ge=0, description="weight of a uniformly random elite as the parent")
    frontier: float = Field(default=0.2, ge=0, description="weight of an elite next to empty cells as the parent "
                                                           "(fills the map)")
    pareto: float = Field(default=0.0, ge=0, description="weight of a Pareto-front elite, drawn by crowding "
                                                         "distance, as the parent (tasks that declare objectives)")
    top_inspirations: int = Field(default=2, ge=0, le=16, description="best elites shown beside the parent")
    diverse_inspirations: int = Field(default=1, ge=0, le=16, description="elites from cells far from the "
                                                                          "parent's, shown beside it")

    @model_validator(mode="after")
    def _some_weight(self):
        if self.exploit + self.explore + self.frontier + self.pareto <= 0:
            raise ValueError("exploit, explore, frontier and pareto cannot all be 0")
        return self


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wall_s: float | None = Field(default=None, gt=0, description="wall-clock seconds per evaluation (default: the task's)")
    cpu_s: float | None = Field(default=None, gt=0, description="CPU seconds per evaluation (default: the task's)")
    memory_mb: int | None = Field(default=None, ge=64, description="memory of the candidate process (default: the task's)")
    nproc: int | None = Field(default=None, ge=1, description="processes the candidate may run (default: the task's)")
    fsize_mb: int | None = Field(default=None, ge=1, description="largest file the candidate may write (default: the task's)")


PROVIDERS = tuple(PROVIDER_REGISTRY)
LLM_OPERATORS = ("diff", "full_rewrite", "crossover")


class ModelConfig(BaseModel):
    """One LLM of the ensemble. The key is read from the environment variable `api_key_env`, never stored."""
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    provider: Literal[PROVIDERS] = Field(  # type: ignore[valid-type]  (from the provider registry)
        description="the API it speaks", examples=["openai"])
    model: str = Field(min_length=1, max_length=200, description="the model name the API knows", examples=["gpt-4o-mini"])
    weight: float = Field(default=1.0, gt=0, description="its share of the calls (the prior, with adaptive model choice)")
    temperature: float | None = Field(default=None, ge=0, le=2, description="default: the provider's")
    max_tokens: int = Field(default=4096, ge=16, le=1_000_000, description="output tokens per call")
    timeout: float = Field(default=120.0, gt=0, le=3600, description="seconds per call")
    base_url: str | None = Field(default=None, description="default: the SDK's (the provider's *_BASE_URL variable)")
    api_key_env: str | None = Field(default=None, description="default: the provider's key variable, e.g. OPENAI_API_KEY")

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def key_env(self) -> str:
        return self.api_key_env or PROVIDER_REGISTRY[self.provider].key_env


def parse_llm_spec(spec: str) -> str | dict[str, Any]:
    """`offline`, `openai:MODEL`, `anthropic:MODEL`, each optionally `@WEIGHT` (e.g. openai:gpt-4o-mini@0.7)."""
    text = spec.strip()
    if text == "offline":
        return "offline"
    provider, sep, rest = text.partition(":")
    if not sep or provider not in PROVIDERS or not rest:
        raise ValueError(f"{spec!r} is not a model spec; use offline or PROVIDER:MODEL with PROVIDER one of "
                         f"{', '.join(PROVIDERS)}, optionally with @WEIGHT (openai:gpt-4o-mini@0.7)")
    model, weight = rest, None
    if "@" in rest:
        head, _, tail = rest.rpartition("@")
        try:
            weight = float(tail)
        except ValueError:
            raise ValueError(f"{spec!r}: weight {tail!r} after @ is not a number") from None
        model = head
    if not model:
        raise ValueError(f"{spec!r}: the model name is empty")
    return {"provider": provider, "model": model, **({"weight": weight} if weight is not None else {})}


class PriceConfig(BaseModel):
    """Dollars per million tokens."""
    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0, description="$ per million input tokens", examples=[0.15])
    output: float = Field(ge=0, description="$ per million output tokens", examples=[0.6])


class BudgetConfig(BaseModel):
    """A cap on LLM spend: new calls stop once the logged calls reach it (in-flight calls finish)."""
    model_config = ConfigDict(extra="forbid")
    usd: float | None = Field(default=None, gt=0, description="dollars (needs prices for every model)")
    tokens: int | None = Field(default=None, ge=1, description="input + output tokens")


class MixConfig(BaseModel):
    """Probabilities (relative weights) of the mutation operators."""
    model_config = ConfigDict(extra="forbid")
    diff: float = Field(default=0.7, ge=0, description="the LLM edits the parent with SEARCH/REPLACE blocks")
    full_rewrite: float = Field(default=0.1, ge=0, description="the LLM rewrites the EVOLVE-BLOCK regions whole")
    crossover: float = Field(default=0.1, ge=0, description="the LLM combines the parent with an inspiration")
    offline: float = Field(default=0.1, ge=0, description="an offline AST edit, no LLM call")

    @model_validator(mode="after")
    def _some_weight(self):
        if self.diff + self.full_rewrite + self.crossover + self.offline <= 0:
            raise ValueError("diff, full_rewrite, crossover and offline cannot all be 0")
        return self


class ReplaySource(BaseModel):
    """A recorded campaign whose logged LLM answers stand in for the models (`evolve run --replay`)."""
    model_config = ConfigDict(extra="forbid")
    db: str = Field(min_length=1, description="the archive holding it: a SQLite file path or a SQLAlchemy URL")
    campaign: int = Field(ge=1, description="its id in that archive")
    name: str | None = Field(default=None, description="its name there (for messages)")


class LLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concurrency: int | None = Field(default=None, ge=1, le=1024,
                                    description="cap on LLM calls in flight (default: proposals if set, else 64 "
                                                "for the adaptive window)")
    max_retries: int = Field(default=4, ge=0, le=20, description="retries of a call on 429/5xx/timeout/connection errors")
    backoff_s: float = Field(default=1.0, gt=0, le=600, description="first retry delay; doubles per retry, with jitter")
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600, description="longest retry delay")
    bench_after: int = Field(default=3, ge=1, le=1000, description="consecutive failed calls (429s aside) before a model is benched")
    bench_s: float = Field(default=60.0, ge=0, le=86400, description="how long a failing model sits out")
    edit_retries: int = Field(default=1, ge=0, le=5, description="re-asks with the error after a failed edit")
    templates: str | None = Field(default=None, description="a directory of .j2 templates overriding prompts/")
    log_prompts: bool = Field(default=True, description="store prompts in the call log (false: keep them out)")
    model_choice: Literal["adaptive", "weights"] = Field(
        default="adaptive", description="adaptive: Thompson sampling on improvements per dollar, the weights as "
                                        "prior (evolve/mutators/model_choice.py); weights: the configured weights only")
    replay: ReplaySource | None = Field(default=None, description="answer every request from this recorded "
                                                                  "campaign's call log instead of the models "
                                                                  "(set by `evolve run --replay`)",
                                        examples=[{"db": "recorded.db", "campaign": 1, "name": "binpack_online-1"}])


class RayOptions(BaseModel):
    """Where the Ray executor runs evaluations (see evolve/executors/ray.py)."""
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, description="a cluster's GCS address HOST:PORT (default: RAY_ADDRESS, "
                                                          "else the cluster this machine belongs to)")
    retries: int = Field(default=2, ge=0, le=20, description="re-runs of an evaluation whose node or worker was lost")
    connect_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="give up (one line, exit 2) when the "
                                                                              "address does not answer as Ray this long")


class ArchiveOptions(BaseModel):
    """How a running campaign keeps in touch with its archive (evolve/loop/heartbeat.py, evolve/loop/dbthread.py)."""
    model_config = ConfigDict(extra="forbid")
    heartbeat_s: float = Field(default=5.0, gt=0, le=600, description="how often the running process says it is alive")
    stale_after_s: float = Field(default=90.0, gt=0, le=86400,
                                 description="a campaign not heard from this long is taken for dead: any machine may "
                                             "resume it")
    outage_grace_s: float = Field(default=60.0, ge=0, le=86400,
                                  description="a database outage this long is ridden through (retries with backoff "
                                              "on a fresh connection); a longer one ends the campaign")

    @model_validator(mode="after")
    def _stale_outlasts_an_outage(self):
        if self.stale_after_s <= self.outage_grace_s + 2 * self.heartbeat_s:
            raise ValueError(f"archive.stale_after_s ({self.stale_after_s:g}) must exceed outage_grace_s + 2 x "
                             f"heartbeat_s ({self.outage_grace_s + 2 * self.heartbeat_s:g}): a campaign riding out "
                             f"an outage must not look dead")
        return self


class SelectionConfig(BaseModel):
    """How the campaign's best (what `best`, `export`, the TUI and the held-out report show) is chosen."""
    model_config = ConfigDict(extra="forbid")
    top_k: int = Field(default=5, ge=1, le=1000,
                       description="the best is the program with the best validation score among the top_k by "
                                   "training score; each program that enters the training top_k is scored on the "
                                   "task's validation split as the campaign goes (a task without one: the best "
                                   "training program)")


class CampaignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str | None = Field(default=None, description="a built-in task (`evolve tasks` lists them); give task "
                                                       "or task_dir, not both")
    task_dir: str | None = Field(default=None, description="a task directory of your own (task.yaml, seed, scorer)")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="campaign name (default: TASK-ID)")
    iterations: int = Field(default=100, ge=1, le=10_000_000, description="children to propose: the budget")
    seed: int = Field(default=0, ge=0, description="random seed of every draw the campaign makes")
    workers: int = Field(default_factory=default_workers, ge=1, le=256, examples=[2],
                         description="evaluations in flight (default: the CPU count)")
    proposals: int | None = Field(default=None, ge=1, le=1024,
                                  description="LLM proposals in flight (default: a window sized from measured "
                                              "latencies, see evolve/loop/concurrency.py; never more than lag + 1); "
                                              "offline proposals are made one at a time")
    lag: int | None = Field(default=None, ge=0, le=1024,
                            description="iteration i sees the verdicts of iterations up to i - lag - 1, so up to "
                                        "lag + 1 iterations are in flight; the same seed gives the same campaign "
                                        "at any worker count (default: 4 offline, 16 with an LLM)")
    sandbox: Literal[SANDBOX_BACKENDS] = Field(  # type: ignore[valid-type]  (sandbox.BACKENDS)
        default="process", description="where a candidate runs: a jailed process or a Docker container")
    executor: Literal[EXECUTOR_NAMES] = Field(  # type: ignore[valid-type]  (evolve.executors.EXECUTORS)
        default="local", description="where evaluations run: this machine or a Ray cluster")
    jail: Literal["auto", "bwrap", "none"] = Field(default="auto", description="the process sandbox's jail; auto: "
                                                                               "bubblewrap when installed")
    ray: RayOptions = Field(default_factory=RayOptions, description="the Ray cluster (executor: ray)")
    archive: ArchiveOptions = Field(default_factory=ArchiveOptions, description="liveness and database outages")
    llm: list[Literal["offline"] | ModelConfig] = Field(
        default_factory=lambda: ["offline"],
        description="the mutators: offline, or LLMs, each PROVIDER:MODEL[@WEIGHT] or a mapping",
        examples=[[{"provider": "openai", "model": "gpt-4o-mini", "weight": 0.7}, "anthropic:claude-3-5-haiku-latest@0.3"]])
    prices: dict[str, PriceConfig] = Field(default_factory=dict, description="per model ($ per million tokens)",
                                           examples=[{"openai:gpt-4o-mini": {"input": 0.15, "output": 0.6}}])
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="a cap on LLM spend")
    mix: MixConfig | None = Field(default=None, description="operator probabilities (default: offline only "
                                                            "without an LLM, the values below with one)")
    llm_options: LLMOptions = Field(default_factory=LLMOptions, description="how LLM calls are made")
    operators: dict[str, float] = Field(default_factory=dict, description="offline operator weights (default: each "
                                                                          "operator's own, as in the example)")
    descriptors: list[DescriptorSpec] | None = Field(  # same schema as a task.yaml axis
        default=None, description="MAP-Elites axes: a task metric or code_size, code_lines, ast_nodes "
                                  "(default: the task's)",
        examples=[[{"name": "code_size", "range": [0, 4000], "bins": 10}]])
    islands: IslandConfig = Field(default_factory=IslandConfig, description="the island model")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="how parents and inspirations "
                                                                                 "are drawn")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="per-evaluation limits")
    heldout_report: bool = Field(default=True, description="evaluate the best program on the held-out split at "
                                                           "the end")
    selection: SelectionConfig = Field(default_factory=SelectionConfig,
                                       description="how the program handed to the user is chosen")
    qd_offset: float | None = Field(default=None, allow_inf_nan=False,
                                    description="QD score offset (archive/qd.py); default: the task's qd_offset, "
                                                "else the seed program's training score")
    cascade: bool = Field(default=True, description="run the task's cascade stages (task.yaml stages:) before training")
    functional_hashing: bool = Field(default=True, description="merge children whose outputs on the task's probe "
                                                              "inputs equal a known program's (task.yaml fingerprint:)")

    @model_validator(mode="after")
    def _one_task(self):
        if bool(self.task) == bool(self.task_dir):
            raise ValueError("give exactly one of task (a built-in task name) or task_dir (a task directory)")
        return self

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: dict[str, float]):
        from .mutators.operators import OPERATORS

        for name, weight in value.items():
            if name not in OPERATORS:
                raise ValueError(f"unknown offline operator {name!r}; operators: {', '.join(OPERATORS)}")
            if weight < 0:
                raise ValueError(f"{name}: weight {weight} must be >= 0")
        return value

    @field_validator("llm", mode="before")
    @classmethod
    def _parse_llm(cls, value):
        if isinstance(value, (str, dict)):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("needs at least one mutator: offline, openai:MODEL or anthropic:MODEL")
        models = []
        for index, spec in enumerate(value):
            if isinstance(spec, ModelConfig):
                models.append(spec)
                continue
            if isinstance(spec, str):
                spec = parse_llm_spec(spec)
            if spec == "offline":
                models.append("offline")
                continue
            if not isinstance(spec, dict):
                raise ValueError(f"entry {index} must be a spec string or a mapping, not {type(spec).__name__}")
            try:
                models.append(ModelConfig.model_validate(spec))
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) for p in error["loc"])
                if error["type"] == "extra_forbidden":
                    raise ValueError(f"entry {index}: unknown key {field!r}; allowed: "
                                     f"{', '.join(ModelConfig.model_fields)}") from None
                raise ValueError(f"entry {index}: {field}: {error.get('input')!r} is not allowed: "
                                 f"{error['msg'].removeprefix('Value error, ')}") from None
        names = [m.name for m in models if isinstance(m, ModelConfig)]
        if names and "offline" in models:
            raise ValueError("offline cannot be listed with LLM models; set mix.offline for the share of offline edits")
        if len(set(names)) != len(names):
            raise ValueError(f"a model is listed twice: {', '.join(sorted(n for n in set(names) if names.count(n) > 1))}")
        return models

    @model_validator(mode="after")
    def _llm_consistent(self):
        models = self.models()
        if not models and self.mix is not None and any(getattr(self.mix, op) > 0 for op in LLM_OPERATORS):
            raise ValueError("mix: diff, full_rewrite and crossover need an LLM in llm (e.g. --llm openai:gpt-4o-mini); "
                             "with llm: [offline] only mix.offline applies")
        if self.budget.usd is not None:
            for model in models:
                if self.price(model) is None:
                    raise ValueError(f"prices: no price for {model.name}; a dollar budget needs "
                                     f"prices: {{{model.model}: {{input: USD_PER_MTOK, output: USD_PER_MTOK}}}}")
        return self

    def models(self) -> list[ModelConfig]:
        return [m for m in self.llm if isinstance(m, ModelConfig)]

    def price(self, model: ModelConfig) -> PriceConfig | None:
        return self.prices.get(model.name) or self.prices.get(model.model)

    def operator_mix(self) -> MixConfig:
        if not self.models():
            return MixConfig(diff=0, full_rewrite=0, crossover=0, offline=1)
        return self.mix or MixConfig()

    def effective_lag(self) -> int:
        """The campaign's lag: what iteration i sees is fixed by i and this number (evolve/loop/schedule.py)."""
        if self.lag is not None:
            return self.lag
        return 16 if self.models() else 4


def describe_error(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not key:
        return message
    if error["type"] == "extra_forbidden":
        nested = _NESTED.get(str(error["loc"][0])) if len(error["loc"]) > 1 else None
        allowed = ", ".join((nested or CampaignConfig).model_fields)
        return f"{key}: unknown key; allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{key}: required"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{key}: {shown} is not allowed: {message}"


_NESTED = {"islands": IslandConfig, "sampling": SamplingConfig, "limits": LimitsConfig, "budget": BudgetConfig,
           "mix": MixConfig, "llm_options": LLMOptions, "prices": PriceConfig, "ray": RayOptions, "archive": ArchiveOptions}


def _load_yaml_mapping(path: Path) -> dict[str, Any]:
    """The campaign file's top-level mapping; UserError naming the file for anything else."""
    if path.is_dir():
        raise UserError(f"config file {path} is a directory; pass a campaign YAML file")
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"a campaign file is YAML text such as `task: binpack_online`") from None
    if "\x00" in text:
        raise UserError(f"config file {path} is binary, not YAML text; a campaign file looks like `task: binpack_online`")
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = {list: "a list", str: "a single string"}.get(type(loaded), f"a {type(loaded).__name__}")
        raise UserError(f"{path}: the top level is {kind}; it must be a mapping of keys to values "
                        f"such as `task: binpack_online`")
    return loaded


def build_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> CampaignConfig:
    """Start from `base` (a stored campaign's config, for a replay), apply the YAML file (if any) key by key,
    then the non-None overrides; validate. Raises UserError."""
    raw: dict[str, Any] = dict(base or {})
    source = "config"
    if file:
        path = Path(file)
        source = str(path)
        loaded = _load_yaml_mapping(path)
        if "task" in loaded or "task_dir" in loaded:  # one task, of either kind
            raw.pop("task", None)
            raw.pop("task_dir", None)
        raw.update(loaded)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "task" in overrides:  # a task named on the command line replaces the file's, of either kind
        raw.pop("task_dir", None)
    if "task_dir" in overrides:
        raw.pop("task", None)
    for key, value in overrides.items():  # a nested override (budget.usd from a flag) keeps the file's other keys
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    try:
        return CampaignConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{source} error: {describe_error(exc.errors()[0])}") from None
