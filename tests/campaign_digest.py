"""A campaign as comparable data: per iteration what was proposed and what became of it, and the cells.

Program ids are left out (another campaign may share the archive); a parent is named by its iteration.
"""
from __future__ import annotations

from core_support import query


def campaign_digest(db: str, campaign: int | str = 1) -> dict[str, list[tuple]]:
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
    """Where two digests part, in one line (None when they are equal)."""
    for part in ("programs", "cells"):
        for left, right in zip(a[part], b[part]):
            if left != right:
                return f"{part}: {left} != {right}"
        if len(a[part]) != len(b[part]):
            return f"{part}: {len(a[part])} rows != {len(b[part])} rows"
    return None
