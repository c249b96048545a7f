"""The new-campaign form: the same fields and the same one-line errors as `evolve run`; launches detached."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from ..config import CampaignConfig, build_config, default_workers
from ..errors import UserError

TASK_DIR = "__dir__"


def dollar_budget_key() -> str | None:
    """The campaign config key for a budget in dollars ("budget.usd"), if the config has one."""
    for name, field in CampaignConfig.model_fields.items():
        if "usd" in name or "dollar" in name:
            return name
        fields = getattr(field.annotation, "model_fields", {})
        if "usd" in fields:
            return f"{name}.usd"
    return None


def parse_operators(text: str) -> dict[str, str] | None:
    """'name=weight, name=weight' -> {name: weight}; values are validated by the config model."""
    text = text.strip()
    if not text:
        return None
    weights = {}
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise UserError(f"operators: {part!r} is not allowed: write name=weight, e.g. perturb_constant=2")
        weights[name.strip()] = value.strip()
    return weights


def parse_descriptors(text: str) -> list[dict] | None:
    """'name:low:high[:bins]; ...' -> descriptor dicts; values are validated by the config model."""
    text = text.strip()
    if not text:
        return None
    found = []
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        fields = [f.strip() for f in part.split(":")]
        if len(fields) not in (3, 4):
            raise UserError(f"descriptors: {part!r} is not allowed: write name:low:high or name:low:high:bins")
        spec = {"name": fields[0], "range": [fields[1], fields[2]]}
        if len(fields) == 4:
            spec["bins"] = fields[3]
        found.append(spec)
    return found


class NewCampaignScreen(Screen):
    CSS_PATH = "new_campaign.tcss"
    HELP_TITLE = "New campaign"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "launch", "Launch")]
    EXTRA_HELP = [("tab", "next field"), ("enter (in a field)", "launch")]

    def compose(self) -> ComposeResult:
        from evaluators.task import builtin_task_names

        tasks = [(name, name) for name in builtin_task_names()] + [("a task directory…", TASK_DIR)]
        budget_key = dollar_budget_key()
        yield Header()
        with VerticalScroll(id="form"):
            yield Static("Start a campaign. It runs in its own process: closing the TUI never stops it.",
                         classes="muted")
            yield Label("Task")
            yield Select(tasks, value=tasks[0][1], allow_blank=False, id="task")
            yield Input(placeholder="path/to/task_dir (with task.yaml)", id="task_dir", classes="hidden")
            with Horizontal(classes="row"):
                yield self._field("Name", Input(placeholder="default: TASK-ID", id="name"))
                yield self._field("Seed", Input("0", id="seed"))
            with Horizontal(classes="row"):
                yield self._field("Iterations (budget)", Input("100", id="iterations"))
                yield self._field("Budget $ " + ("" if budget_key else "(needs LLM cost tracking)"),
                                  Input(placeholder="none", id="budget_usd", disabled=budget_key is None))
            yield Label("Mutators / LLMs, as for --llm (comma-separated; weights as the --llm syntax allows)")
            yield Input("offline", id="llm")
            yield Label("Offline operator weights (optional): name=weight, …")
            yield Input(placeholder="e.g. perturb_constant=2, swap_binop=1", id="operators")
            with Horizontal(classes="row"):
                yield self._field("Workers", Input(str(default_workers()), id="workers"))
                yield self._field("Sandbox", Select([("process", "process"), ("docker", "docker")], value="process",
                                                    allow_blank=False, id="sandbox"))
            yield Label("Descriptors (optional): name:low:high[:bins]; …")
            yield Input(id="descriptors")
            yield Static("", id="error", classes="error")
            with Horizontal(id="buttons"):
                yield Button("Launch (ctrl+s)", variant="primary", id="launch")
                yield Button("Cancel", id="cancel")
        yield Footer()

    @staticmethod
    def _field(label: str, widget) -> VerticalScroll:
        from textual.containers import Vertical
        return Vertical(Label(label), widget, classes="field")

    def on_mount(self) -> None:
        self._task_defaults()
        self.query_one("#task", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "task":
            self.query_one("#task_dir").set_class(event.value != TASK_DIR, "hidden")
            self._task_defaults()

    def _task_defaults(self) -> None:
        from evaluators.task import TaskError, load_task

        value = self.query_one("#task", Select).value
        if value == TASK_DIR:
            return
        try:
            task = load_task(value)
        except TaskError:
            return
        hint = "; ".join(f"{d.name}:{d.range[0]:g}:{d.range[1]:g}:{d.bins}" for d in task.spec.descriptors)
        self.query_one("#descriptors", Input).placeholder = f"task default: {hint}" if hint else "none"

    def overrides(self) -> dict:
        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip() or None  # noqa: E731
        task = self.query_one("#task", Select).value
        data = {"task": None if task == TASK_DIR else task,
                "task_dir": value("task_dir") if task == TASK_DIR else None,
                "name": value("name"), "iterations": value("iterations"), "seed": value("seed"),
                "workers": value("workers"), "sandbox": self.query_one("#sandbox", Select).value,
                "llm": [s.strip() for s in (value("llm") or "").split(",") if s.strip()] or None,
                "operators": parse_operators(value("operators") or ""),
                "descriptors": parse_descriptors(value("descriptors") or "")}
        key = dollar_budget_key()
        if key and value("budget_usd"):
            outer, _, inner = key.partition(".")
            data[outer] = {inner: value("budget_usd")} if inner else value("budget_usd")
        if task == TASK_DIR and not data["task_dir"]:
            raise UserError("task_dir: required: type the path of a task directory")
        return data

    def validate(self) -> CampaignConfig:
        """Exactly what `evolve run` checks, with its messages."""
        from ..campaign import Campaign

        config = build_config(None, self.overrides())
        Campaign.check(config)
        return config

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_launch()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.action_launch()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_launch(self) -> None:
        from evaluators.task import TaskError

        error = self.query_one("#error", Static)
        try:
            config = self.validate()
        except (UserError, TaskError) as exc:
            error.update(f"error: {exc}")
            return
        error.update("launching…")
        self.query_one("#launch", Button).disabled = True
        self._launch(config)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, config: CampaignConfig) -> None:
        from .launch import launch_run

        archive = self.app.archive
        known = {c.id for c in archive.campaigns()}
        launched = launch_run(config, self.app.db, self.app.cwd)
        campaign_id, failure = launched.wait_started(archive, known)
        self.app.call_from_thread(self._launched, launched, campaign_id, failure)

    def _launched(self, launched, campaign_id: int | None, failure: str | None) -> None:
        if campaign_id is None:
            self.query_one("#launch", Button).disabled = False
            self.query_one("#error", Static).update(
                f"error: {failure}" if failure else f"the campaign has not started yet; see {launched.log}")
            return
        self.notify(f"campaign {campaign_id} started in process {launched.process.pid}; log: {launched.log}",
                    title="launched", timeout=8)
        self.dismiss(campaign_id)  # the campaigns screen opens its dashboard
