"""`evolve run` and `evolve resume`: drive a campaign in this process with a live progress bar."""
from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from archive.db import display_url
from sandbox import BACKENDS

from .. import startup_gc
from ..config import build_config
from ..errors import UserError
from ..executors import EXECUTORS
from .common import add_db, add_json, console, err_console, fmt, open_archive, print_json

if TYPE_CHECKING:
    from ..campaign import Campaign


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="start a campaign")
    run.add_argument("task", nargs="?", help="built-in task name (see `evolve tasks`)")
    run.add_argument("--task-dir", help="a task directory of your own (task.yaml, seed, scorer)")
    run.add_argument("--config", help="campaign YAML file; flags override its values")
    run.add_argument("--name", help="campaign name (default: TASK-ID)")
    run.add_argument("--iterations", type=int, help="children to propose (the budget)")
    run.add_argument("--seed", type=int, help="random seed (default 0)")
    run.add_argument("--workers", type=int, help="evaluations in flight (default: CPU count)")
    run.add_argument("--proposals", type=int, help="mutations in flight (default: workers offline; sized from "
                                                   "measured latencies with an LLM)")
    run.add_argument("--llm", action="append", metavar="SPEC",
                     help="offline (default), openai:MODEL or anthropic:MODEL, optionally @WEIGHT "
                          "(openai:gpt-4o-mini@0.7); repeat for an ensemble; keys from OPENAI_API_KEY / "
                          "ANTHROPIC_API_KEY, servers from OPENAI_BASE_URL / ANTHROPIC_BASE_URL")
    add_budget(run)
    run.add_argument("--replay", metavar="SOURCE",
                     help="re-run a recorded LLM campaign from its logged answers, without any server, into a new "
                          "campaign in --db: SOURCE is its archive (a file, e.g. one made by `evolve archive "
                          "--backup`, or a URL); its settings are the default, flags override them")
    run.add_argument("--replay-campaign", metavar="NAME|ID",
                     help="the campaign of SOURCE to replay (needed when SOURCE holds several)")
    run.add_argument("--templates", metavar="DIR", help="prompt templates overriding prompts/*.j2")
    run.add_argument("--no-log-prompts", action="store_true", help="keep prompts out of the call log")
    run.add_argument("--sandbox", help=f"where candidates run: {' | '.join(BACKENDS)} (default process)")
    run.add_argument("--jail", help="process sandbox jail: auto | bwrap | none")
    run.add_argument("--executor", help=f"where evaluations run: {' | '.join(EXECUTORS)} (default local)")
    run.add_argument("--ray-address", metavar="HOST:PORT", help="the Ray cluster for --executor ray "
                                                                "(default: RAY_ADDRESS, else this machine's cluster)")
    add_db(run)
    add_json(run)
    run.set_defaults(handler=run_command, startup_gc_paused=True)  # drive() / the provider build resume it

    resume = sub.add_parser("resume", help="continue an interrupted campaign")
    resume.add_argument("campaign", help="campaign id or name")
    resume.add_argument("--workers", type=int, help="override the number of evaluation workers")
    resume.add_argument("--ray-address", metavar="HOST:PORT", help="run its evaluations on this Ray cluster from "
                                                                   "now on (implies --executor ray; stored)")
    add_budget(resume)
    add_db(resume)
    add_json(resume)
    resume.set_defaults(handler=resume_command, startup_gc_paused=True)


def add_budget(parser) -> None:
    parser.add_argument("--budget-usd", type=float, metavar="USD", help="stop new LLM calls once this much is spent")
    parser.add_argument("--budget-tokens", type=int, metavar="N", help="stop new LLM calls after N tokens (in + out)")


def _budget(args) -> dict | None:
    budget = {k: v for k, v in (("usd", args.budget_usd), ("tokens", args.budget_tokens)) if v is not None}
    return budget or None


def run_command(args) -> int:
    from ..campaign import Campaign

    overrides = {"task": args.task, "task_dir": args.task_dir, "name": args.name, "iterations": args.iterations,
                 "seed": args.seed, "workers": args.workers, "proposals": args.proposals, "llm": args.llm,
                 "sandbox": args.sandbox, "jail": args.jail, "executor": args.executor, "budget": _budget(args),
                 "ray": {"address": args.ray_address} if args.ray_address else None,
                 "llm_options": {k: v for k, v in (("templates", args.templates),
                                                   ("log_prompts", False if args.no_log_prompts else None))
                                 if v is not None} or None}
    if args.replay_campaign and not args.replay:
        raise UserError("--replay-campaign names a campaign of --replay SOURCE; pass --replay too")
    base = None
    if args.replay:
        from ..mutators.replay import replay_base
        base = replay_base(args.replay, args.replay_campaign)
        # kept whatever llm_options a --config file brings
        overrides["llm_options"] = {**(overrides["llm_options"] or {}), "replay": base["llm_options"]["replay"]}
    config = build_config(args.config, overrides, base=base)
    task = Campaign.check(config)
    start_providers(config)
    campaign = Campaign.create(open_archive(args.db, must_exist=False), config, task=task)
    if not args.json:
        replay = config.llm_options.replay
        source = f" · replaying {replay.name} of {display_url(replay.db)}" if replay is not None else ""
        console.print(f"campaign [bold]{campaign.name}[/bold] (id {campaign.id}) · task {campaign.task.name} · "
                      f"{config.iterations} iterations · {config.workers} worker(s) · db {display_url(args.db)}{source}",
                      highlight=False)
    return drive(campaign, args.json)


def resume_command(args) -> int:
    from ..campaign import Campaign

    campaign = Campaign.open(open_archive(args.db), args.campaign)
    campaign = campaign.reopened_for_resume(workers=args.workers, budget=_budget(args), ray_address=args.ray_address)
    start_providers(campaign.config)
    if not args.json:
        done = campaign.archive.stats(campaign.id)["iterations_done"]
        console.print(f"resuming [bold]{campaign.name}[/bold] at {done}/{campaign.config.iterations} iterations")
    return drive(campaign, args.json)


def start_providers(config) -> None:
    """Import the LLM SDKs and build their clients on a thread while the campaign starts (mutators/preload.py);
    once built, garbage collection resumes (evolve/startup_gc.py)."""
    if config.models() and config.llm_options.replay is None:
        from ..mutators import preload
        preload.start(config.models(), then=startup_gc.resume)


def drive(campaign: Campaign, as_json: bool) -> int:
    """Run a campaign in this process with a live progress bar; Ctrl-C once stops gracefully, twice aborts."""
    from ..errors import CampaignFailed

    config = campaign.config
    if config.sandbox == "process" and config.jail == "auto":
        from sandbox import bwrap_available
        if not bwrap_available():
            err_console.print("warning: bubblewrap is not installed: candidates run as plain processes with rlimits "
                              "but can see the filesystem and network; install bubblewrap for the jail")
    if not as_json:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    if not config.models():  # no provider build to wait for: startup is over
        startup_gc.resume()
    progress = None if as_json else Progress(
        TextColumn("[bold]evolving"), BarColumn(), MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[rate]} eval/s"),
        TextColumn("failures {task.fields[failures]}"), TimeElapsedColumn(), console=console, transient=False)
    bar = None

    def on_progress(p) -> None:
        if progress is not None and bar is not None:
            progress.update(bar, completed=p.iterations_done, best=fmt(p.best_score, 5),
                            rate=f"{p.evals_per_s:.2f}", failures=p.failures)

    async def main():
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        stops = 0

        def on_signal():
            nonlocal stops
            stops += 1
            if stops == 1:
                err_console.print("stopping after the evaluations in flight (Ctrl-C again to abort now)")
                campaign.request_stop()
            else:
                current.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        return await campaign.run(on_progress=on_progress)

    try:
        if progress is not None:
            with progress:
                done = campaign.archive.stats(campaign.id)["iterations_done"]
                bar = progress.add_task("evolve", total=config.iterations, completed=done, best="-", rate="0",
                                        failures=0)
                outcome = asyncio.run(main())
        else:
            outcome = asyncio.run(main())
    except CampaignFailed as exc:
        raise UserError(f"campaign failed: {exc}") from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        err_console.print("interrupted; `evolve resume` continues the campaign")
        return 130
    record = campaign.refresh()
    front = front_summary(campaign)
    if as_json:
        print_json({"campaign": record.name, "id": record.id, **outcome.summary, "heldout": outcome.report,
                    **({"front": front} if front else {})})
    else:
        print_summary(record, outcome.summary, outcome.report)
        if front:
            console.print(f"front on {front['split']}: {front['points']} point(s) · hypervolume "
                          f"{fmt(front['hypervolume'], 5)} (`evolve front {record.name}` adds the baselines)")
    return 0


def front_summary(campaign) -> dict | None:
    """The front's size and hypervolume, for tasks that declare objectives (evolve/front.py)."""
    if not campaign.task.spec.objectives:
        return None
    from ..front import campaign_front

    report = campaign_front(campaign, with_baselines=False)
    return {"split": report.split, "points": len(report.front.members), "hypervolume": report.hypervolume}


def print_summary(campaign, summary: dict, report: dict | None) -> None:
    programs = summary["programs"]
    # what the cascade spared (only when it ran): children that behaved like a known program, or were cut
    spared = "".join(f"{programs[state]} {label} · " for state, label in (("functional_duplicate", "functional duplicates"),
                                                                         ("cut", "cut")) if programs.get(state))
    console.print(f"campaign {campaign.name}: {summary['state']} · {summary['iterations_done']} iterations · "
                  f"{summary['evaluated']} evaluations · {summary['failures']} failures · "
                  f"{programs.get('duplicate', 0)} duplicates · {spared}"
                  + (f"{summary['validations']} validations · " if summary.get("validations") else "")
                  + f"best train score {fmt(summary['best_score'], 6)}")
    spend = summary.get("spend") or {}
    if spend.get("calls"):
        console.print(spend_line(spend))
    if summary["state"] == "stopped" and campaign.message:
        console.print(f"stopped: {campaign.message}")
    if report:
        from .inspect import generalization_table, heldout_table, qd_table
        if report.get("splits"):
            baseline = report.get("baseline")
            console.print(generalization_table(
                report["splits"], report["best"]["program_id"], {**report["best"]["splits"], "gap": report["best"]["gap"]},
                {"name": baseline["name"], **baseline["splits"], "gap": baseline["gap"]} if baseline else None))
        console.print(heldout_table(report))
        if report.get("qd") and report["qd"]["offset"] is not None:
            console.print(qd_table(report["qd"]))


def spend_line(spend: dict) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(spend.get("outcomes", {}).items()))
    return (f"LLM spend ${spend['usd']:.4f} · {spend['tokens']} tokens ({spend['tokens_in']} in, "
            f"{spend['tokens_out']} out) · {spend['calls']} calls ({outcomes})")
