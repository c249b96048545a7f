"""A campaign's digest: what must be equal for two runs to be the same campaign.

One row per iteration, in iteration order: (iteration, normalised code hash, operator, the parent's
iteration, outcome, training score). The outcome is the training evaluation's status when the
child was evaluated, else the program's state (duplicate, failed_edit, cut, ...). Archive row ids
never appear: they differ between archives and between campaigns of one archive. Works on a SQLite
path or a SQLAlchemy URL (read-only queries).
"""
from __future__ import annotations

import hashlib
import json

from core_support import query

DIGEST_SQL = """
select p.iteration, p.code_hash, p.operator, parent.iteration as parent_iteration, p.state,
       e.status, e.score
from programs p
join campaigns c on c.id = p.campaign_id
left join programs parent on parent.id = p.parent_id
left join evaluations e on e.program_id = p.id and e.role = 'train'
where c.name = '{campaign}'
order by p.iteration
"""


def campaign_rows(db: str, campaign: str) -> list[tuple]:
    """The digest's rows of campaign `campaign` (by name) in the archive `db`."""
    if "'" in campaign:
        raise ValueError(f"campaign name {campaign!r} has a quote")
    return [(r["iteration"], r["code_hash"], r["operator"], r["parent_iteration"], r["status"] or r["state"],
             None if r["score"] is None else repr(float(r["score"])))
            for r in query(db, DIGEST_SQL.format(campaign=campaign))]


def campaign_digest(db: str, campaign: str) -> str:
    """sha256 of the rows: equal digests, the same campaign."""
    return hashlib.sha256(json.dumps(campaign_rows(db, campaign)).encode()).hexdigest()


def campaign_record(db: str, campaign: int | str = 1) -> dict[str, list[tuple]]:
    """The digest's rows with the states and the MAP-Elites cells (island, key, the elite's iteration,
    score), campaign by id or name: what the determinism tests compare, part by part."""
    where = f"c.id = {int(campaign)}" if str(campaign).isdigit() else f"c.name = '{campaign}'"
    programs = query(db, f"""
        select p.iteration, p.code_hash, p.operator, pp.iteration as parent, p.state, e.status, e.score
        from programs p join campaigns c on c.id = p.campaign_id
        left join programs pp on pp.id = p.parent_id
        left join evaluations e on e.program_id = p.id and e.role = 'train'
        where {where} order by p.iteration""")
    cells = query(db, f"""
        select cl.island, cl.key, p.iteration, cl.score from cells cl join campaigns c on c.id = cl.campaign_id
        join programs p on p.id = cl.program_id where {where} order by cl.island, cl.key""")
    return {"programs": [tuple(r.values()) for r in programs], "cells": [tuple(r.values()) for r in cells]}


def first_difference(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> str | None:
    """Where two campaign records part, in one line (None when they are equal)."""
    for part in ("programs", "cells"):
        for left, right in zip(a[part], b[part]):
            if left != right:
                return f"{part}: {left} != {right}"
        if len(a[part]) != len(b[part]):
            return f"{part}: {len(a[part])} rows != {len(b[part])} rows"
    return None
