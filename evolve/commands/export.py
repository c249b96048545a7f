"""`evolve export`: take an evolved program home as a standalone module (+ JSON sidecar, + optional test)."""
from __future__ import annotations

from .common import add_db, add_json, console, open_archive, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("export", help="write a program as a standalone module with provenance and a test")
    parser.add_argument("campaign", help="campaign id or name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--program", type=int, metavar="ID", help="the program to export")
    which.add_argument("--best", action="store_true", help="the campaign's best program, as `evolve best` shows it (the default)")
    which.add_argument("--cell", metavar="KEY", help="the elite of a MAP-Elites cell, e.g. 3,4")
    which.add_argument("--front-point", type=int, metavar="N", help="point N of the Pareto front (`evolve front`)")
    parser.add_argument("--max-flops", type=float, metavar="X",
                        help="the front point with the best first objective among those costing at most X FLOPs")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="module file (NAME.py) or an existing directory; the sidecar is NAME.json")
    parser.add_argument("--with-test", action="store_true",
                        help="also write test_NAME.py replaying recorded input/output pairs (pytest)")
    add_db(parser)
    add_json(parser)
    parser.set_defaults(handler=export_command)


def export_command(args) -> int:
    from ..campaign import Campaign
    from ..export.module import choose_program, export_program

    campaign = Campaign.open(open_archive(args.db), args.campaign)
    if args.front_point is not None or args.max_flops is not None:
        from ..errors import UserError
        from ..front import choose_front_point

        if args.program is not None or args.best or args.cell is not None:
            raise UserError("--max-flops picks a front point; give it alone or with --front-point, "
                            "not with --program, --best or --cell")
        program_id = choose_front_point(campaign, point=args.front_point, max_flops=args.max_flops)
    else:
        program_id = choose_program(campaign, program_id=args.program, best=args.best, cell=args.cell)
    done = export_program(campaign, program_id, args.out, with_test=args.with_test)
    if args.json:
        print_json({"program_id": done.program_id, "module": str(done.module), "sidecar": str(done.sidecar),
                    "test": str(done.test) if done.test else None, "cases": done.cases})
        return 0
    console.print(f"exported program {done.program_id} of {campaign.name} to {done.module}")
    console.print(f"  metrics and lineage: {done.sidecar}")
    if done.test:
        console.print(f"  regression test:     {done.test} ({done.cases} recorded cases; run `pytest {done.test}`)")
    return 0
