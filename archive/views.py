"""Read-only views for live displays and export: bounded, index-backed queries.

Mixed into Archive; uses its `session()`. Nothing here writes.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import aliased

from .horizon import EVERYTHING, Horizon
from .qd import QD_EVENT, archive_qd, resolve_offset
from .schema import CampaignRecord, Cell, Evaluation, Event, Program
from .states import EvaluationRole, ProgramState


class ArchiveViews:
    def evaluations_of(self, program_id: int) -> list[Evaluation]:
        """Every evaluation of a program: its training evaluation first, then reports, by id."""
        with self.session() as s:
            return list(s.scalars(select(Evaluation).where(Evaluation.program_id == program_id)
                                  .order_by(Evaluation.role != EvaluationRole.TRAIN.value, Evaluation.id)))

    def lineage_rows(self, program_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """The program and up to `limit` ancestors, newest first, in one recursive query."""
        chain = (select(Program.id, Program.parent_id, literal(0).label("depth"))
                 .where(Program.id == program_id).cte("chain", recursive=True))
        parent = aliased(Program)
        chain = chain.union_all(select(parent.id, parent.parent_id, (chain.c.depth + 1).label("depth"))
                                .join(chain, parent.id == chain.c.parent_id).where(chain.c.depth < limit))

        with self.session() as s:
            rows = s.execute(select(Program.id, Program.parent_id, Program.iteration, Program.generation,
                                    Program.island, Program.mutator, Program.operator, Program.state,
                                    Evaluation.split, Evaluation.status, Evaluation.score)
                             .join(chain, chain.c.id == Program.id)
                             .outerjoin(Evaluation, (Evaluation.program_id == Program.id)
                                        & (Evaluation.role == EvaluationRole.TRAIN.value))
                             .order_by(chain.c.depth)).all()
        return [{"program_id": r[0], "parent_id": r[1], "iteration": r[2], "generation": r[3], "island": r[4],
                 "mutator": r[5], "operator": r[6], "state": r[7], "split": r[8], "status": r[9], "score": r[10]}
                for r in rows]

    def children_by_operator(self, campaign_id: int, parent_id: int, operators,
                             horizon: Horizon = EVERYTHING) -> list[dict[str, Any]]:
        """A parent's children made by the given operators, by iteration, each with its edit and training outcome.

        A duplicate (textual or functional) carries the outcome of the program it duplicates;
        `status` is None until there is a training evaluation (pending, or cut by a cascade stage:
        `outcome_state` tells which: the child's own state, or its twin's for a duplicate). For a cut
        outcome, `stage` gives how many stage evaluations it had (the probe run included) and the last
        one's score, the stage that cut it; else `stage` is None. `parent_score` is the parent's training
        score (None until the child is decided). Only the horizon's proposals are
        listed, and those it has not decided show as pending (archive/horizon.py).
        """
        where = (Program.campaign_id == campaign_id, Program.parent_id == parent_id,
                 Program.operator.in_(list(operators)), Program.iteration <= horizon.proposed_through)
        return self._children_with_outcomes(where, Program.iteration, None, horizon)

    def recent_children_by_operator(self, campaign_id: int, operators, limit: int = 200,
                                    horizon: Horizon = EVERYTHING) -> list[dict[str, Any]]:
        """The campaign's latest `limit` children made by the given operators, of any parent, newest first,
        as children_by_operator gives them (each also names its `parent_id`)."""
        return self._children_with_outcomes(
            (Program.campaign_id == campaign_id, Program.iteration > 0, Program.operator.in_(list(operators)),
             Program.iteration <= horizon.proposed_through),
            Program.iteration.desc(), limit, horizon)

    def operator_states(self, campaign_id: int, parent_id: int, horizon: Horizon = EVERYTHING
                        ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
        """How the children by each operator ended so far, {operator: {state: count}}: of this parent, and
        of the whole campaign (this parent's included), as the horizon sees them. One grouped query."""
        mine = (Program.parent_id == parent_id).label("mine")
        state = case((Program.iteration <= horizon.decided_through, Program.state),
                     else_=literal(ProgramState.PENDING.value)).label("seen_state")
        with self.session() as s:
            rows = s.execute(select(Program.operator, state, mine, func.count())
                             .where(Program.campaign_id == campaign_id, Program.iteration > 0,
                                    Program.iteration <= horizon.proposed_through)
                             .group_by(Program.operator, state, mine)).all()
        parent: dict[str, dict[str, int]] = {}
        campaign: dict[str, dict[str, int]] = {}
        for operator, state, is_mine, count in rows:
            for states in (parent, campaign) if is_mine else (campaign,):
                by_state = states.setdefault(operator, {})
                by_state[state] = by_state.get(state, 0) + count
        return parent, campaign

    def _children_with_outcomes(self, where, order, limit: int | None,
                                horizon: Horizon = EVERYTHING) -> list[dict[str, Any]]:
        train = aliased(Evaluation)
        twin = aliased(Program)  # the program whose outcome counts: itself, or the one it duplicates
        with self.session() as s:
            rows = s.execute(select(Program.id, Program.iteration, Program.state, Program.edit, Program.operator,
                                    twin.id, Program.parent_id, twin.state)
                             .join(twin, twin.id == func.coalesce(Program.duplicate_of, Program.id))
                             .where(*where).order_by(order).limit(limit)).all()
            scored = {r[5] for r in rows} | {r[6] for r in rows if r[6] is not None}  # parents: to compare with
            outcomes = {r[0]: (r[1], r[2]) for r in s.execute(
                select(train.program_id, train.status, train.score)
                .where(train.program_id.in_(scored), train.role == EvaluationRole.TRAIN.value))} if scored else {}
            cut = {r[5] for r in rows if r[7] == ProgramState.CUT.value}
            stages: dict[int, dict[str, Any]] = {}
            for pid, score in s.execute(select(Evaluation.program_id, Evaluation.score)
                                        .where(Evaluation.program_id.in_(cut),
                                               Evaluation.role == EvaluationRole.STAGE.value)
                                        .order_by(Evaluation.id)) if cut else ():
                seen = stages.setdefault(pid, {"evaluations": 0, "score": None})
                seen["evaluations"] += 1
                seen["score"] = score  # the last stage run is the one that cut it
        pending = ProgramState.PENDING.value
        return [{"program_id": r[0], "iteration": r[1], "state": r[2], "edit": r[3] or {}, "operator": r[4],
                 "status": outcomes.get(r[5], (None, None))[0], "score": outcomes.get(r[5], (None, None))[1],
                 "parent_id": r[6], "outcome_state": r[7], "stage": stages.get(r[5]),
                 "parent_score": outcomes.get(r[6], (None, None))[1]}
                if horizon.decided(r[1]) else
                {"program_id": r[0], "iteration": r[1], "state": pending, "edit": r[3] or {}, "operator": r[4],
                 "status": None, "score": None, "parent_id": r[6], "outcome_state": pending, "stage": None,
                 "parent_score": None}
                for r in rows]

    def campaign_summaries(self) -> dict[int, dict[str, Any]]:
        """Per campaign: children proposed, programs evaluated, best score; three grouped index scans."""
        with self.session() as s:
            children = dict(s.execute(select(Program.campaign_id, func.count()).where(Program.iteration > 0)
                                      .group_by(Program.campaign_id)).all())
            evaluated = dict(s.execute(select(Program.campaign_id, func.count()).where(Program.state == ProgramState.EVALUATED.value)
                                       .group_by(Program.campaign_id)).all())
            best = dict(s.execute(select(Cell.campaign_id, func.max(Cell.score)).group_by(Cell.campaign_id)).all())
        ids = set(children) | set(evaluated) | set(best)
        return {i: {"iterations_done": children.get(i, 0), "evaluated": evaluated.get(i, 0),
                    "best_score": best.get(i)} for i in ids}

    def best_history(self, campaign_id: int) -> list[tuple[int, float, Any]]:
        """(iteration, score, time) each time the campaign's best score improved, oldest first."""
        with self.session() as s:
            rows = s.execute(select(Program.iteration, Event.data, Event.created_at)
                             .join(Program, Program.id == Event.program_id)
                             .where(Event.campaign_id == campaign_id, Event.kind == "new_best")
                             .order_by(Event.id)).all()
        return [(r[0], float(r[1]["score"]), r[2]) for r in rows if isinstance(r[1], dict) and "score" in r[1]]

    def recent_evaluation_times(self, campaign_id: int, limit: int = 100) -> list[Any]:
        """Creation times of the campaign's latest `limit` programs' first evaluations, newest first."""
        latest = (select(Program.id).where(Program.campaign_id == campaign_id)
                  .order_by(Program.iteration.desc()).limit(limit).subquery())
        with self.session() as s:
            return list(s.scalars(select(Evaluation.created_at).join(latest, latest.c.id == Evaluation.program_id)
                                  .order_by(Evaluation.created_at.desc())))

    def recent_events(self, campaign_id: int, limit: int = 50) -> list[Event]:
        """The newest events, newest first; `qd` snapshots are figures, not happenings, and are left out."""
        with self.session() as s:
            return list(s.scalars(select(Event).where(Event.campaign_id == campaign_id, Event.kind != QD_EVENT)
                                  .order_by(Event.id.desc()).limit(limit)))

    def latest_event(self, campaign_id: int, kind: str) -> Event | None:
        with self.session() as s:
            return s.scalar(select(Event).where(Event.campaign_id == campaign_id, Event.kind == kind)
                            .order_by(Event.id.desc()).limit(1))

    def change_token(self, campaign_id: int) -> tuple:
        """Cheap fingerprint of a campaign's progress: pollers skip their heavy queries while it holds."""
        with self.session() as s:
            state = s.execute(select(CampaignRecord.state, CampaignRecord.updated_at).where(CampaignRecord.id == campaign_id)).first()
            program = s.scalar(select(func.max(Program.iteration)).where(Program.campaign_id == campaign_id))
            event = s.scalar(select(func.max(Event.id)).where(Event.campaign_id == campaign_id))
            evaluation = s.scalar(select(func.max(Evaluation.id)))
        return (tuple(state) if state else None, program, event, evaluation)

    def progress_counts(self, campaign_id: int) -> dict[str, Any]:
        """What `stats` reports for a live view, from index scans only (no evaluation joins).

        Failures by status come from the `failure` events `record_training` writes for every
        failed training evaluation; ok = evaluated programs - failures.
        """
        with self.session() as s:
            programs = dict(s.execute(select(Program.state, func.count()).where(Program.campaign_id == campaign_id)
                                      .group_by(Program.state)).all())
            children = s.scalar(select(func.count()).select_from(Program)
                                .where(Program.campaign_id == campaign_id, Program.iteration > 0)) or 0
            status = Event.data["status"].as_string()
            failures = dict(s.execute(select(status, func.count()).where(Event.campaign_id == campaign_id,
                                                                         Event.kind == "failure")
                                      .group_by(status)).all())
            best, cells = s.execute(select(func.max(Cell.score), func.count(func.distinct(Cell.key)))
                                    .where(Cell.campaign_id == campaign_id)).one()
        evaluated = programs.get(ProgramState.EVALUATED.value, 0)
        statuses = {k or "?": v for k, v in failures.items()}
        failed = sum(statuses.values())
        if evaluated - failed > 0:
            statuses["ok"] = evaluated - failed
        return {"iterations_done": children, "programs": programs, "evaluations": statuses, "evaluated": evaluated,
                "failures": failed, "best_score": best, "cells_filled": cells or 0}

    # ---- quality diversity (archive/qd.py) ------------------------------------------------
    def qd_cells(self, campaign_id: int) -> list[tuple[int, str, float]]:
        """(island, cell key, elite score) of every occupied cell; a primary-key range scan."""
        with self.session() as s:
            return [tuple(r) for r in s.execute(select(Cell.island, Cell.key, Cell.score)
                                                .where(Cell.campaign_id == campaign_id)).all()]

    def seed_score(self, campaign_id: int) -> float | None:
        """The seed program's (iteration 0) training score, None until it evaluated ok."""
        with self.session() as s:
            return s.scalar(select(Evaluation.score).join(Program, Program.id == Evaluation.program_id)
                            .where(Program.campaign_id == campaign_id, Program.iteration == 0,
                                   Evaluation.role == EvaluationRole.TRAIN.value, Evaluation.status == "ok"))

    def qd_snapshots(self, campaign_id: int, latest_only: bool = False) -> list[dict[str, Any]]:
        """The stored `qd` snapshots, oldest first (or only the newest), each with its time as `at`."""
        query = (select(Event.data, Event.created_at).where(Event.campaign_id == campaign_id, Event.kind == QD_EVENT)
                 .order_by(Event.id.desc() if latest_only else Event.id))
        with self.session() as s:
            rows = s.execute(query.limit(1) if latest_only else query).all()
        return [{**data, "at": at} for data, at in rows if isinstance(data, dict)]

    def quality_diversity(self, campaign_id: int, grid_size: int, islands: int, declared_offset: float | None = None,
                          *, history: bool = True) -> dict[str, Any]:
        """QD score and coverage now (from the cells), per island and overall, and the stored history.

        The offset is the declared one, else the seed's training score (see archive/qd.py).
        """
        offset, source = resolve_offset(declared_offset, None if declared_offset is not None
                                        else self.seed_score(campaign_id))
        now = archive_qd(self.qd_cells(campaign_id), grid_size, islands, offset)
        report: dict[str, Any] = {"offset": offset, "offset_source": source, "cells": grid_size, **now}
        if history:
            report["history"] = [{"evaluations": h.get("evaluations"), "at": h["at"], "overall": h.get("overall"),
                                  "islands": h.get("islands")} for h in self.qd_snapshots(campaign_id)]
        return report
