"""Selection by validation in real campaigns (tests/fixtures/overfit_task: 12 training points, 24 validation).

The best a campaign hands the user is chosen among its top-k training programs by validation score;
every program that enters the training top-k is validated as the campaign goes; the search never
reads a validation result; a task without a validation split keeps the best training program.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from archive import Archive, EvaluationRole
from archive.schema import Evaluation, Program
from core_support import evolve_cmd
from evaluators.task import TaskError, load_task_dir
from evolve.campaign import Campaign
from evolve.config import build_config
from evolve.executors import local_executor
from evolve.export.module import choose_program
from evolve.loop.controller import Controller
from evolve.loop.selection import TrainingTopK
from evolve.mutators import Edit, Mutator

ROOT = Path(__file__).resolve().parents[2]
OVERFIT = ROOT / "tests" / "fixtures" / "overfit_task"
TOY = ROOT / "tests" / "fixtures" / "toy_task"
BLOCK = "# EVOLVE-BLOCK-START\n{code}\n# EVOLVE-BLOCK-END\n"
TARGET = "0.8 * x * x - 0.3 * x + 0.2"


def offset(d: str, flipped: bool = False) -> str:
    """The target plus a constant: the same squared error d² on every split."""
    expression = f"{d} + ({TARGET})" if flipped else f"({TARGET}) + {d}"
    return f"def f(x):\n    return {expression}"


def memorizer() -> str:
    """Exact on the training points, far off elsewhere: the best training score, a bad validation score."""
    scorer = load_task_dir(OVERFIT).load_scorer()
    table = {x: scorer.target(x) for x in scorer.points("train")}
    return f"TABLE = {table!r}\n\ndef f(x):\n    return TABLE.get(x, 3.0)"


class ScriptedMutator(Mutator):
    """Proposes the given programs in order, one per iteration."""

    name = "scripted"

    def __init__(self, programs: list[str]):
        self.programs = programs

    async def propose(self, context):
        return Edit(BLOCK.format(code=self.programs[context.iteration - 1]), self.name, f"script{context.iteration}")

    async def close(self):
        return None


def run_scripted(tmp_path, task_dir: Path, programs: list[str], db: str | None = None, **overrides):
    archive = Archive(db or str(tmp_path / "c.db"))
    config = build_config(None, {"task_dir": str(task_dir), "iterations": len(programs), "workers": 1, "lag": 0,
                                 "islands": {"count": 1}, "heldout_report": False, **overrides})
    campaign = Campaign.create(archive, config)

    async def main():
        sandbox = local_executor("process", workers=1)
        try:
            summary = await Controller(campaign.run_spec(), sandbox, ScriptedMutator(programs)).run()
            return summary, await campaign.heldout_report(sandbox)
        finally:
            await sandbox.close()

    summary, report = asyncio.run(main())
    with archive.session() as s:
        by_iteration = {p.iteration: p.id for p in s.query(Program).filter_by(campaign_id=campaign.id)}
    return campaign, summary, report, by_iteration


def validations(archive: Archive, campaign_id: int) -> dict[int, Evaluation]:
    with archive.session() as s:
        rows = s.query(Evaluation).join(Program).filter(Program.campaign_id == campaign_id,
                                                        Evaluation.role == EvaluationRole.VALIDATION.value).all()
    return {e.program_id: e for e in rows}


def test_best_on_train_but_worse_on_validation_is_not_chosen(tmp_path, cli_env):
    campaign, summary, report, ids = run_scripted(tmp_path, OVERFIT, [memorizer(), offset("0.05")])
    archive, overfit, smooth = campaign.archive, ids[1], ids[2]
    train_best, _ = archive.best(campaign.id)
    assert train_best.id == overfit  # the memorizer has the best training score (mse 0)...
    valid = validations(archive, campaign.id)
    assert valid[overfit].score < valid[smooth].score  # ...and the worse validation score
    assert report["best"]["program_id"] == smooth and report["best"]["selected_by"] == "validation"
    assert report["best"]["splits"]["validation"]["score"] == valid[smooth].score
    assert report["baseline"]["name"] == "zero" and set(report["baseline"]["splits"]) == {"train", "validation",
                                                                                            "heldout"}
    assert report["best"]["gap"] == pytest.approx(report["best"]["splits"]["heldout"]["score"]
                                                  - report["best"]["splits"]["train"]["score"])
    assert choose_program(campaign) == smooth  # export's default

    shown = json.loads(subprocess.run(evolve_cmd("best", "--db", str(tmp_path / "c.db"), "--json"), env=cli_env,
                                      capture_output=True, text=True, check=True).stdout)
    assert shown["program_id"] == smooth and shown["selected_by"] == "validation"
    assert [c["program_id"] for c in shown["top_k"]][:2] == [overfit, smooth]
    assert shown["figures"]["heldout"]["score"] == report["best"]["score"]
    assert shown["baseline"]["name"] == "zero" and shown["baseline"]["validation"]["status"] == "ok"
    text = subprocess.run(evolve_cmd("best", "--db", str(tmp_path / "c.db")), env=cli_env, capture_output=True,
                          text=True, check=True).stdout
    assert "chosen by best validation score" in text and "baseline zero" in text and "gap" in text


def test_entering_the_top_k_triggers_validation_and_nothing_else_does(tmp_path, db_url):
    programs = [offset("0.3"), offset("0.2"), offset("0.5"), offset("0.3", flipped=True), offset("0.1"),
                offset("0.25")]
    campaign, summary, _, ids = run_scripted(tmp_path, OVERFIT, programs, db=db_url, selection={"top_k": 2})
    archive = campaign.archive
    seed_score = archive.training_evaluation(ids[0]).score
    assert seed_score < -0.25  # the seed is worse than every offset program
    # top-2 after each verdict: seed; 0.3+seed; 0.2+0.3; (0.5: out); (0.3's twin ties the second: out); 0.1+0.2;
    # (0.25: out)
    valid = validations(archive, campaign.id)
    assert set(valid) == {ids[0], ids[1], ids[2], ids[5]}
    assert all(e.split == "validation" and e.status == "ok" for e in valid.values())
    assert summary["validations"] == 4
    with archive.session() as s:
        campaign_seconds = sum(e.wall_time for e in s.query(Evaluation).all() if e.role != EvaluationRole.REPORT.value)
    assert summary["evaluation_seconds"] == pytest.approx(campaign_seconds)  # validation time counted (the held-out
    # report came after the summary)
    # what the mutators read of recent attempts: one row per program, training outcomes only
    attempts = archive.recent_attempts(campaign.id, limit=50)
    assert len(attempts) == len(programs) and all(a["score"] == archive.training_evaluation(a["program_id"]).score
                                                  for a in attempts)
    assert archive.selected_best(campaign.id, 2).program.id == ids[5]
    archive.close()


def test_top_k_entrants_rank_ties_by_verdict_order():
    top = TrainingTopK(3)
    entered = [top.add(score, order, order) for order, score in enumerate([1.0, 3.0, 2.0, 0.5, 2.0, 1.5, 4.0, 2.0])]
    # a tie ranks after the earlier verdict: the second 2.0 enters (it beats 1.0), the last one ties the third: out
    assert entered == [True, True, True, False, True, False, True, False]
    assert top.members() == [6, 1, 2]
    top.disqualify(1)  # a failed validation frees its place for the next in training rank
    assert top.members() == [6, 2, 4]


def crasher() -> str:
    """Exact on the training points and a KeyError anywhere else: the best training score, a crashed validation."""
    scorer = load_task_dir(OVERFIT).load_scorer()
    return f"TABLE = {({x: scorer.target(x) for x in scorer.points('train')})!r}\n\ndef f(x):\n    return TABLE[x]"


def test_a_program_that_fails_validation_is_never_chosen_and_frees_its_place(tmp_path, cli_env):
    # top-2: the crasher ranks first on train and fails validation, so the memorizer (tied on train, bad on
    # validation) and the smooth program are the two candidates; with the crasher holding a place, the smooth
    # program would never have been validated and the memorizer would have been handed over
    campaign, summary, report, ids = run_scripted(tmp_path, OVERFIT, [crasher(), memorizer(), offset("0.05")],
                                                  selection={"top_k": 2})
    archive = campaign.archive
    valid = validations(archive, campaign.id)
    assert valid[ids[1]].status == "crashed" and valid[ids[2]].status == "ok" and valid[ids[3]].status == "ok"
    assert archive.best(campaign.id)[0].id == ids[1]  # the training best is the crasher
    assert [c.program_id for c in archive.top_training(campaign.id, 2)] == [ids[2], ids[3]]
    assert report["best"]["program_id"] == ids[3] and report["best"]["selected_by"] == "validation"
    shown = json.loads(subprocess.run(evolve_cmd("best", "--db", str(tmp_path / "c.db"), "--json"), env=cli_env,
                                      capture_output=True, text=True, check=True).stdout)
    assert shown["program_id"] == ids[3]


def test_a_task_without_validation_split_keeps_the_best_training_program(tmp_path):
    campaign, summary, report, ids = run_scripted(tmp_path, TOY, [offset("0.05"), offset("0.3")])
    archive = campaign.archive
    assert validations(archive, campaign.id) == {} and summary["validations"] == 0
    selected = archive.selected_best(campaign.id, 5)
    assert selected.selected_by == "train" and selected.program.id == archive.best(campaign.id)[0].id == ids[1]
    assert report["best"]["program_id"] == ids[1] and report["best"]["splits"]["validation"] is None
    assert report["baseline"]["splits"]["validation"] is None and report["baseline"]["splits"]["train"]["status"] == "ok"


def test_validation_never_steers_the_search(tmp_path, cli_env):
    """The same offline campaign with and without a validation split proposes and evaluates the same programs."""
    without = tmp_path / "without_validation"
    shutil.copytree(OVERFIT, without)
    spec = yaml.safe_load((without / "task.yaml").read_text())
    del spec["validation_split"]
    (without / "task.yaml").write_text(yaml.safe_dump(spec))
    made = {}
    for name, task_dir in (("with", OVERFIT), ("without", without)):
        db = tmp_path / f"{name}.db"
        subprocess.run(evolve_cmd("run", "--task-dir", task_dir, "--iterations", 40, "--workers", 1, "--seed", 3,
                                  "--db", db, "--json"), env=cli_env, check=True,
                       capture_output=True)
        archive = Archive(str(db))
        with archive.session() as s:
            made[name] = [(p.iteration, p.code_hash, p.state, e.score if e else None)
                          for p, e in s.query(Program, Evaluation).outerjoin(
                              Evaluation, (Evaluation.program_id == Program.id)
                              & (Evaluation.role == EvaluationRole.TRAIN.value)).order_by(Program.iteration)]
        archive.close()
    assert made["with"] == made["without"]


def test_validation_split_must_be_a_split_of_its_own(tmp_path):
    for value, message in (("nope", "validation_split: 'nope' is not one of the task's splits"),
                           ("train", "validation_split: 'train' is also the train_split"),
                           ("heldout", "validation_split: 'heldout' is also the heldout_split"),
                           ("probe", "validation_split: 'probe' is also the fingerprint.split"),
                           ("stage", "validation_split: 'stage' is also the stages.0.split")):
        task_dir = tmp_path / value
        shutil.copytree(OVERFIT, task_dir)
        spec = yaml.safe_load((task_dir / "task.yaml").read_text())
        spec["validation_split"] = value
        spec["splits"].update(probe="a probe", stage="a cascade stage")
        spec["fingerprint"] = {"split": "probe"}
        spec["stages"] = [{"split": "stage", "rule": {"top_fraction": 0.5}}]
        (task_dir / "task.yaml").write_text(yaml.safe_dump(spec))
        with pytest.raises(TaskError, match=message):
            load_task_dir(task_dir)


def test_tasks_json_shows_split_roles_and_the_reference_baseline(cli_env):
    done = subprocess.run(evolve_cmd("tasks", "--json"), env=cli_env, capture_output=True, text=True, check=True)
    tasks = {t["name"]: t for t in json.loads(done.stdout)}
    binpack = tasks["binpack_online"]
    assert {name: s["role"] for name, s in binpack["splits"].items()} == {
        "train": "train", "validation": "validation", "heldout": "heldout", "or3": "other", "weibull_5k": "other",
        "stage": "stage", "probe": "probe"}
    assert binpack["reference_baseline"]["name"] == "best_fit"
    for name, task in tasks.items():  # a task without a validation split or a reference baseline is warned about
        if task["validation_split"] is None:
            assert f"warning: task {name}: no validation split" in done.stderr
        if task["reference_baseline"] is None:
            assert f"warning: task {name}: no reference baseline" in done.stderr
    mine = json.loads(subprocess.run(evolve_cmd("tasks", "--task-dir", OVERFIT, "--json"), env=cli_env,
                                     capture_output=True, text=True, check=True).stdout)[0]
    assert {name: s["role"] for name, s in mine["splits"].items()} == {"train": "train", "validation": "validation",
                                                                      "heldout": "heldout"}
    assert mine["validation_split"] == "validation" and mine["warnings"] == []


@pytest.fixture
def overfit_campaign(tmp_path) -> tuple[str, dict[int, int]]:
    """A finished campaign whose training best (the memorizer, iteration 1) validates worse than iteration 2."""
    _, _, _, ids = run_scripted(tmp_path, OVERFIT, [memorizer(), offset("0.05")])
    return str(tmp_path / "c.db"), ids


async def test_the_tui_opens_the_selected_best(overfit_campaign):
    from evolve.tui import EvolveApp
    from evolve.tui.program import ProgramScreen
    from tui_support import loaded

    db, ids = overfit_campaign
    app = EvolveApp(db)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await pilot.press("enter")  # the campaign's dashboard
        await loaded(pilot)
        await pilot.press("b")
        program = await loaded(pilot)
        assert isinstance(program, ProgramScreen) and program.program_id == ids[2]  # not the memorizer, ids[1]


def test_run_summary_shows_every_split_beside_the_baseline(tmp_path, cli_env):
    db = tmp_path / "run.db"
    done = subprocess.run(evolve_cmd("run", "--task-dir", OVERFIT, "--iterations", 8, "--workers", 1, "--db", db),
                          env=cli_env, capture_output=True, text=True, check=True)
    assert "validations" in done.stdout and "score by split" in done.stdout
    assert "validation (validation)" in done.stdout and "held-out (heldout)" in done.stdout
    assert "baseline zero" in done.stdout and "gap" in done.stdout
    summary = json.loads(subprocess.run(evolve_cmd("run", "--task-dir", OVERFIT, "--iterations", 8, "--workers", 1,
                                                   "--db", db, "--json"), env=cli_env, capture_output=True,
                                        text=True, check=True).stdout)
    report = summary["heldout"]
    assert report["splits"] == {"train": "train", "validation": "validation", "heldout": "heldout"}
    assert {role: row["status"] for role, row in report["best"]["splits"].items()} == {
        "train": "ok", "validation": "ok", "heldout": "ok"}
    assert summary["validations"] >= 1


def test_with_no_candidate_validated_yet_a_training_best_that_failed_validation_is_not_chosen(tmp_path):
    campaign, _, _, ids = run_scripted(tmp_path, OVERFIT, [crasher()], selection={"top_k": 1})
    archive = campaign.archive
    with archive.session() as s:  # as mid-campaign: the seed's validation not stored yet
        s.query(Evaluation).filter(Evaluation.program_id == ids[0],
                                   Evaluation.role == EvaluationRole.VALIDATION.value).delete()
        s.commit()
    assert archive.best(campaign.id)[0].id == ids[1] and validations(archive, campaign.id)[ids[1]].status == "crashed"
    selected = archive.selected_best(campaign.id, 1)
    assert selected.program.id == ids[0] and selected.selected_by == "train" and selected.validation is None
    archive.close()
