"""`evolve config`: the campaign file, as an example with every key or as a user's file checked and shown whole."""
from __future__ import annotations

from .common import add_json, print_json


def add_parser(sub) -> None:
    parser = sub.add_parser("config", help="print a campaign file with every key and its default, or check one")
    parser.add_argument("file", nargs="?", help="a campaign YAML file: check it (and the task it names) and print it with every default "
                             "filled in")
    parser.add_argument("--example", action="store_true",
                        help="print a campaign file with every key, its default and what it means "
                             "(with --json: the file's JSON Schema)")
    add_json(parser)
    parser.set_defaults(handler=config_command)


def config_command(args) -> int:
    import sys

    import yaml

    from ..config import CampaignConfig, build_config
    from ..errors import UserError

    if args.example == bool(args.file):
        raise UserError("give --example, or a campaign FILE to check (see `evolve config --help`)")
    if args.example:
        if args.json:
            print_json(CampaignConfig.model_json_schema())
            return 0
        from ..config_doc import example_yaml

        sys.stdout.write(example_yaml())
        return 0
    from evaluators.task import load_task

    config = build_config(args.file)
    load_task(config.task, config.task_dir)  # the task it names exists and loads (TaskError: one line, exit 2)
    resolved = config.model_dump(mode="json")
    if args.json:
        print_json(resolved)
    else:
        sys.stdout.write(yaml.safe_dump(resolved, sort_keys=False, width=1000))
    return 0
