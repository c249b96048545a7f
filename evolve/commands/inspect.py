"""`evolve status`, `evolve best`, `evolve archive`: read a campaign from the archive."""
from __future__ import annotations

from rich.syntax import Syntax
from rich.table import Table

from typing import TYPE_CHECKING


from archive import EvaluationRole
from archive.db import display_url

from .common import add_db, add_json, console, fmt, open_archive, print_json
from .fit import fitted_table

if TYPE_CHECKING:
    from archive import Archive
    from archive.schema import CampaignRecord


def add_parser(sub) -> None:
    status = sub.add_parser("status", help="campaigns, or one campaign in detail")
    status.add_argument("campaign", nargs="?", help="campaign id or name (default: list all)")
    best = sub.add_parser("best", help="the best program of a campaign")
    best.add_argument("campaign", nargs="?", help="campaign id or name (default: the latest)")
    best.add_argument("--code-only", action="store_true", help="print only the program text")
    grid = sub.add_parser("archive", help="the MAP-Elites grid of a campaign as a table, or a backup of the archive")
    grid.add_argument("campaign", nargs="?", help="campaign id or name (default: the latest; with --backup: "
                                                  "every campaign)")
    grid.add_argument("--island", type=int, help="one island only (default: best over islands)")
    grid.add_argument("--backup", metavar="PATH", help="write the archive (or only CAMPAIGN) to the new SQLite file "
                                                       "PATH: one self-contained file to keep or share")
    for parser, handler in ((status, status_command), (best, best_command), (grid, archive_command)):
        add_db(parser)
        add_json(parser)
        parser.set_defaults(handler=handler)


def campaign_row(archive: Archive, campaign: CampaignRecord, age_s: float | None = None) -> dict:
    """`age_s`: seconds since its heartbeat, when the caller read them all at once."""
    from ..liveness import liveness

    stats = archive.stats(campaign.id)
    if age_s is None:
        age_s = archive.heartbeat_ages([campaign.id]).get(campaign.id)
    seen = liveness(campaign, age_s)
    return {"id": campaign.id, "name": campaign.name, "task": campaign.task_name, "state": campaign.state,
            **seen.as_dict(), "seen": seen.describe(),
            "iterations": campaign.iterations, "message": campaign.message, "created_at": campaign.created_at,
            "finished_at": campaign.finished_at, **stats}


def status_command(args) -> int:
    archive = open_archive(args.db)
    if not args.campaign:
        ages = archive.heartbeat_ages()
        rows = [campaign_row(archive, c, ages.get(c.id)) for c in archive.campaigns()]
        if args.json:
            print_json(rows)
            return 0
        headers = ["id", "name", "task", "state", "iter", "evals", "failed", "best", "spend", "started"]
        cells = [[str(r["id"]), r["name"], r["task"], short_liveness(r), f"{r['iterations_done']}/{r['iterations']}",
                  str(r["evaluated"]), str(r["failures"]), fmt(r["best_score"], 6),
                  f"${r['spend']['usd']:.4f}" if r["spend"]["calls"] else "-",
                  r["created_at"].strftime("%Y-%m-%d %H:%M")] for r in rows]
        console.print(fitted_table(f"campaigns in {display_url(args.db)}", headers, cells, console.width, shrink="name",
                                   drop_order=["started", "spend", "failed", "evals", "iter", "task"]))
        return 0
    campaign = archive.campaign(args.campaign)
    row = campaign_row(archive, campaign)
    events = [{"id": e.id, "kind": e.kind, "program_id": e.program_id, "data": e.data, "at": e.created_at}
              for e in reversed(archive.recent_events(campaign.id, 10))]
    qd = campaign_qd(archive, campaign)
    models = model_rows(archive, campaign)
    if args.json:
        print_json({**row, "qd": qd, "models": models, "recent_events": events})
        return 0
    table = Table(title=f"campaign {campaign.name}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("task", str(row["task"]))
    table.add_row("state", row["seen"])
    if row["message"]:
        table.add_row("message", str(row["message"]))
    table.add_row("iterations", f"{row['iterations_done']}/{row['iterations']}")
    table.add_row("evaluations", ", ".join(f"{k} {v}" for k, v in sorted(row["evaluations"].items())) or "-")
    table.add_row("programs", ", ".join(f"{k} {v}" for k, v in sorted(row["programs"].items())) or "-")
    table.add_row("best train score", fmt(row["best_score"], 6))
    table.add_row("cells filled", str(row["cells_filled"]))
    for field, value in qd_rows(qd):
        table.add_row(field, value)
    table.add_row("evaluation time", f"{row['evaluation_seconds']:.1f} s"
                  + (f" (validation of the top-k included: {row['validations']} evaluations)" if row["validations"] else ""))
    spend = row["spend"]
    if spend["calls"]:
        budget = (campaign.config or {}).get("budget") or {}
        caps = [f"${budget['usd']:g}" if budget.get("usd") else "", f"{budget['tokens']} tokens" if budget.get("tokens") else ""]
        caps = " and ".join(c for c in caps if c)
        table.add_row("LLM spend", f"${spend['usd']:.4f} · {spend['tokens']} tokens ({spend['tokens_in']} in, "
                                   f"{spend['tokens_out']} out) · {spend['calls']} calls" + (f" · budget {caps}" if caps else ""))
        table.add_row("LLM calls", ", ".join(f"{k} {v}" for k, v in sorted(spend["outcomes"].items())))
    console.print(table)
    if models:
        console.print(models_table(models))
    for e in events:
        console.print(f"  #{e['id']} {e['kind']} program {e['program_id'] or '-'} {e['data']}", markup=False,
                      no_wrap=True, overflow="ellipsis")  # one line per event; --json has them whole
    return 0


def short_liveness(row: dict) -> str:
    """The list's state cell: `running 3s`, `stale 2m` (seconds since the last heartbeat), else the state."""
    if row["last_seen_s"] is None or row["liveness"] not in ("running", "stopping", "stale"):
        return str(row["liveness"])
    from ..liveness import fmt_age

    return f"{row['liveness']} {fmt_age(row['last_seen_s'])}"


def model_rows(archive: Archive, campaign: CampaignRecord) -> list[dict]:
    from ..mutators.model_choice import campaign_models

    return campaign_models(archive, campaign)


def models_table(models: list[dict]) -> Table:
    """Fits 80 columns: long model names wrap inside their column."""
    per = models[0]["cost_unit"]
    table = Table(title="LLM models" + ("" if per == "usd" else " (no prices: improvements per million tokens)"))
    table.add_column("model", overflow="fold", max_width=24)
    for column in ("calls", "spend", "ok", "pending", "improved", f"per {'$' if per == 'usd' else 'Mtok'}"):
        table.add_column(column, justify="right")
    for m in models:
        spend = f"${m['usd']:.4f}" if per == "usd" else f"{m['tokens']}t"
        rate = "-" if m["improvement_rate"] is None else f"{m['improved']} {100 * m['improvement_rate']:.0f}%"
        table.add_row(f"{m['provider']}:{m['model']}", str(m["calls"]), spend,
                      "-" if m["ok_rate"] is None else f"{100 * m['ok_rate']:.0f}%", str(m["pending"]), rate,
                      fmt(m["improved_per_unit"], 4))
    return table


def best_command(args) -> int:
    from ..best import latest_baseline_row, program_row, selected_best

    archive = open_archive(args.db)
    campaign = archive.campaign(args.campaign) if args.campaign else archive.latest_campaign()
    selected = selected_best(archive, campaign)
    if selected is None:
        from ..errors import UserError
        raise UserError(f"campaign {campaign.name} has no successfully evaluated program yet")
    program, evaluation = selected.program, selected.train
    if args.code_only:
        print(program.code, end="")
        return 0
    from ..liveness import campaign_liveness

    seen = campaign_liveness(archive, campaign)
    splits = campaign_splits(archive, campaign)
    best_row = program_row(archive, selected, splits["heldout"])
    baseline_row = latest_baseline_row(archive, campaign.id)
    reports = [e for e in archive.evaluations_of(program.id) if e.role == EvaluationRole.REPORT.value]
    data = {"campaign": campaign.name, **seen.as_dict(), "seen": seen.describe(), "program_id": program.id,
            "iteration": program.iteration, "generation": program.generation, "operator": program.operator, "mutator": program.mutator,
            "score": evaluation.score, "metrics": evaluation.metrics, "descriptors": evaluation.descriptors,
            "selected_by": selected.selected_by, "top_k": selected.describe()["top_k"], "splits": splits,
            "figures": {role: best_row[role] for role in ("train", "validation", "heldout")}, "gap": best_row["gap"],
            "baseline": baseline_row,
            "heldout": [{"split": e.split, "status": e.status, "score": e.score, "metrics": e.metrics} for e in reports],
            "code": program.code}
    if args.json:
        print_json(data)
        return 0
    how = ("best validation score among the top " + str(len(selected.candidates)) + " training programs"
           if selected.selected_by == "validation" else "best training score " +
           ("(the task has no validation split)" if splits["validation"] is None else "(no validation result yet)"))
    console.print(f"best of {campaign.name} ({seen.describe()}): program {program.id} (iteration {program.iteration}, "
                  f"generation {program.generation}, {program.mutator}/{program.operator}) · chosen by {how}")
    console.print(generalization_table(splits, program.id, best_row, baseline_row))
    for name, value in evaluation.metrics.items():
        console.print(f"  train {name} = {fmt(value, 6)}")
    for e in reports:
        console.print(f"  {e.split}: score {fmt(e.score, 6)} " + " ".join(f"{k}={fmt(v, 5)}" for k, v in e.metrics.items()))
    console.print(Syntax(program.code, "python", line_numbers=True))
    return 0


def campaign_splits(archive: Archive, campaign: CampaignRecord) -> dict:
    """The campaign task's split names by role; a task that no longer loads: the defaults."""
    from ..campaign import Campaign
    from ..errors import UserError
    from ..generalization import split_names
    from evaluators.task import TaskError

    try:
        return split_names(Campaign.from_record(archive, campaign))
    except (UserError, TaskError):
        return {"train": "train", "validation": None, "heldout": "heldout"}


def _figure(figures: dict | None) -> str:
    if not figures:
        return "-"
    return fmt(figures["score"], 6) if figures["status"] == "ok" else figures["status"]


def generalization_table(splits: dict, program_id: int, best: dict, baseline: dict | None) -> Table:
    """Scores on train / validation / held-out side by side with the reference baseline's, and the gap."""
    table = Table(title="score by split (the gap: held-out minus train)")
    table.add_column("")
    for role, label in (("train", "train"), ("validation", "validation"), ("heldout", "held-out")):
        table.add_column(f"{label} ({splits[role]})" if splits.get(role) else f"{label} (none)", justify="right")
    table.add_column("gap", justify="right")
    rows = [(f"best (program {program_id})", best)]
    rows.append((f"baseline {baseline['name']}", baseline) if baseline else
                ("reference baseline", None))
    for label, row in rows:
        if row is None:
            table.add_row(label, "-", "-", "-", "no held-out report yet")
            continue
        table.add_row(label, *(_figure(row.get(role)) for role in ("train", "validation", "heldout")),
                      fmt(row.get("gap"), 4))
    return table


def archive_command(args) -> int:
    from ..campaign import Campaign

    archive = open_archive(args.db)
    if args.backup:
        return backup_command(archive, args)
    campaign = Campaign.open(archive, args.campaign)
    grid = campaign.grid
    elites = archive.elites(campaign.id, args.island)
    cells = [{"key": e.key, "coords": list(grid.parse(e.key)), "program_id": e.program_id, "score": e.score,
              "ranges": {a.name: list(a.edges(i)) for a, i in zip(grid.axes, grid.parse(e.key))}}
             for e in sorted(elites, key=lambda e: grid.parse(e.key))]
    if args.json:
        print_json({"campaign": campaign.name, "axes": [a.__dict__ for a in grid.axes], "cells": cells})
        return 0
    by_key = {e.key: e for e in elites}
    if len(grid.axes) == 2:
        rows_axis, cols_axis = grid.axes
        table = Table(title=f"elites of {campaign.name}: {rows_axis.name} (rows) × {cols_axis.name} (columns); "
                            f"score and program id", show_lines=True)
        table.add_column(rows_axis.name)
        for j in range(cols_axis.bins):
            lo, hi = cols_axis.edges(j)
            table.add_column(f"{lo:.3g}–{hi:.3g}", justify="center")
        for i in range(rows_axis.bins):
            lo, hi = rows_axis.edges(i)
            cells_text = []
            for j in range(cols_axis.bins):
                elite = by_key.get(f"{i},{j}")
                cells_text.append(f"{fmt(elite.score, 4)}\n#{elite.program_id}" if elite else "·")
            table.add_row(f"{lo:.3g}–{hi:.3g}", *cells_text)
    else:
        table = Table(title=f"elites of {campaign.name}")
        for column in [a.name for a in grid.axes] + ["score", "program"]:
            table.add_column(column)
        for cell in cells:
            table.add_row(*[f"{r[0]:.3g}–{r[1]:.3g}" for r in cell["ranges"].values()], fmt(cell["score"], 5),
                          f"#{cell['program_id']}")
    console.print(table)
    console.print(f"{len(elites)} of {grid.size} cells filled")
    return 0


def backup_command(archive: Archive, args) -> int:
    from archive.backup import backup

    ids = None if args.campaign is None else [archive.campaign(args.campaign).id]
    done = backup(archive, args.backup, ids)
    if args.json:
        print_json({"backup": done.path, "campaigns": done.campaigns, "bytes": done.bytes})
    else:
        console.print(f"wrote {done.path} ({done.bytes} bytes): {len(done.campaigns)} campaign(s): "
                      f"{', '.join(done.campaigns) or '-'}", markup=False)
    return 0


def campaign_qd(archive: Archive, campaign: CampaignRecord) -> dict | None:
    """QD score and coverage, per island and overall, with history; None when the campaign's task cannot load."""
    from ..campaign import Campaign
    from ..errors import UserError
    from evaluators.task import TaskError

    try:
        return Campaign.from_record(archive, campaign).quality_diversity()
    except (UserError, TaskError):
        return None


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def qd_rows(qd: dict | None) -> list[tuple[str, str]]:
    """Two short rows (QD score, coverage), each value under ~60 columns for a few islands."""
    if not qd or qd.get("offset") is None:
        return []
    overall, islands = qd["overall"], qd["islands"]
    per_island = len(islands) > 1
    score = fmt(overall["qd_score"], 3)
    if per_island:
        score += " (islands " + ", ".join(fmt(i["qd_score"], 3) for i in islands) + ")"
    coverage = f"{_percent(overall['coverage'])} of {qd['cells']} cells"
    if per_island:
        coverage += " (islands " + ", ".join(_percent(i["coverage"]) for i in islands) + ")"
    return [("QD score", f"{score} · offset {fmt(qd['offset'], 3)} ({qd['offset_source']})"), ("coverage", coverage)]


def heldout_table(report: dict) -> Table:
    best, baseline = report["best"], report.get("baseline")
    table = Table(title=f"held-out split {report['split']!r}")
    table.add_column("metric")
    table.add_column(f"best (program {best['program_id']})", justify="right")
    if baseline:
        table.add_column(f"baseline {baseline['name']}", justify="right")
    names = list(best["metrics"]) or list((baseline or {}).get("metrics", {}))
    table.add_row("score", fmt(best["score"], 6), *([fmt(baseline["score"], 6)] if baseline else []))
    for name in names:
        table.add_row(name, fmt(best["metrics"].get(name), 6),
                      *([fmt(baseline["metrics"].get(name), 6)] if baseline else []))
    return table


def qd_table(qd: dict) -> Table:
    """The training archive's QD score and coverage, overall and per island (printed after the held-out table)."""
    table = Table(title=f"quality diversity of the archive (offset {fmt(qd['offset'], 4)}, {qd['offset_source']})")
    for column in ("", "QD score", "normalized", "coverage", "cells"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [("overall", qd["overall"])] + ([(f"island {i['island']}", i) for i in qd["islands"]]
                                          if len(qd["islands"]) > 1 else [])
    for name, stats in rows:
        table.add_row(name, fmt(stats["qd_score"], 4), fmt(stats["norm_qd_score"], 3), _percent(stats["coverage"]),
                      f"{stats['filled']}/{stats['cells']}")
    return table
