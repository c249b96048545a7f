"""`evolve front CAMPAIGN`: the campaign's Pareto front, the baselines' points, the hypervolume."""
from __future__ import annotations

from .common import add_db, add_json, console, err_console, fmt, open_archive, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("front", help="print a campaign's Pareto front on the task's objectives, with the baselines")
    parser.add_argument("campaign", nargs="?", help="campaign id or name (default: the latest)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave the baselines out (they are evaluated once per campaign, then cached)")
    add_db(parser)
    add_json(parser)
    parser.set_defaults(handler=front_command)


def front_command(args) -> int:
    from rich.table import Table

    from ..campaign import Campaign
    from ..front import campaign_front

    campaign = Campaign.open(open_archive(args.db), args.campaign)
    def measuring(names: list[str], split: str) -> None:
        err_console.print(f"measuring {len(names)} baseline(s) on {split} (once per campaign, then cached): "
                          f"{', '.join(names)}")

    report = campaign_front(campaign, with_baselines=not args.no_baselines, on_measure=measuring)
    if args.json:
        print_json(report.to_dict())
        return 0
    names = [o.metric for o in report.objectives]
    arrows = ["↑" if o.maximize else "↓" for o in report.objectives]
    table = Table(title=f"{report.campaign} · {report.task} · front on {report.split} "
                        f"({len(report.front.members)} of {report.front.candidates} programs)")
    table.add_column("point", justify="right")
    table.add_column("program", justify="right")
    for name, arrow in zip(names, arrows):
        table.add_column(f"{name} {arrow}", justify="right")
    table.add_column("note")
    for i, member in enumerate(report.front.members):
        ties = report.front.ties.get(member.key, [])
        note = ", ".join(filter(None, ["best score" if member.key == report.best_program else "",
                                       f"ties: {', '.join(map(str, ties[:5]))}{' …' if len(ties) > 5 else ''}"
                                       if ties else ""]))
        table.add_row(str(i), str(member.key), *(fmt(v, 5) for v in member.values), note)
    for baseline in report.baselines:
        if baseline.values is None:
            cells, note = ["-"] * len(names), f"{baseline.status}"
        else:
            cells = [fmt(v, 5) for v in baseline.values]
            points = [i for i, m in enumerate(report.front.members) if m.key in baseline.dominated_by]
            note = f"dominated by point {', '.join(map(str, points))}" if points else "not dominated"
        table.add_row("", f"[dim]{baseline.name}[/dim]", *cells, note)
    console.print(table)
    reference = ", ".join(f"{n} {fmt(r, 5)}" for n, r in zip(names, report.reference))
    dominated = sum(bool(b.dominated_by) for b in report.baselines)
    line = f"hypervolume {fmt(report.hypervolume, 5)} (reference {reference})"
    if report.baselines_hypervolume is not None:
        line += f"; baselines' own {fmt(report.baselines_hypervolume, 5)}"
    if report.baselines:
        line += f"; the front dominates {dominated} of {len(report.baselines)} baselines"
    console.print(line)
    return 0
