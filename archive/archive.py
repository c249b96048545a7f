"""The archive: one object over SQLAlchemy for campaigns, programs, evaluations and elites.

Every write is its own transaction, committed before the call returns, so a campaign killed
at any instant loses nothing that was reported as done; `with archive.transaction():` makes
several calls one transaction, committed when the block ends (archive/transactions.py).
"""
from __future__ import annotations

import dataclasses
import os
import weakref
from typing import Any, Iterable

from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from .campaigns import CampaignRecords
from .cascade_log import CascadeLog
from .cells_at import CellHistory
from .db import checkpoint, database_url, known_revisions, make_engine, upgrade
from .errors import ArchiveError, ArchiveUnusable
from .horizon import EVERYTHING, Horizon
from .front import FrontViews
from .liveness import CampaignLiveness
from .llm_log import LLMCallLog
from .resilience import ResilientSession
from .transactions import Transactions
from .mapelites import Grid
from .selection import SelectionQueries
from .schema import CampaignRecord, Cell, Evaluation, Event, LLMCall, Program
from .sampling import Elite, best_per_cell
from .urls import check_database_url
from .sqlite_file import check_archive_path, describe_sqlite_error, display_name
from .states import KNOWN_PROGRAM_STATES, EvaluationRole, ProgramState
from .views import ArchiveViews


@dataclasses.dataclass(frozen=True)
class PlacementOutcome:
    key: str | None
    new_elite: bool
    new_best: bool


@dataclasses.dataclass(frozen=True)
class ProgramRow:
    view: dict[str, Any]  # id, code, generation, island, operator, and the training score, metrics, artifacts
    iteration: int
    evaluated: bool       # it has a training evaluation


def view_at(row: ProgramRow, horizon: Horizon) -> dict[str, Any]:
    """A program's view as `horizon` sees it: no evaluation unless its iteration is decided there."""
    if horizon.decided(row.iteration):
        return {**row.view, "metrics": dict(row.view["metrics"]), "artifacts": dict(row.view["artifacts"])}
    return {**row.view, "score": None, "metrics": {}, "artifacts": {}}


_OPEN: "weakref.WeakSet[Archive]" = weakref.WeakSet()


def _close_engine(engine) -> None:
    try:
        checkpoint(engine)
    except DatabaseError:
        pass  # a damaged or read-only file: nothing more can be written to it; disconnecting still helps
    finally:
        engine.dispose()


def close_all() -> None:
    """Close every archive this process opened and has not closed (the CLI's exit path, errors included)."""
    for archive in list(_OPEN):
        archive.close()


class Archive(Transactions, CampaignRecords, ArchiveViews, LLMCallLog, CascadeLog, SelectionQueries, FrontViews,
              CampaignLiveness, CellHistory):
    """`create=False` opens only an existing evolve archive: a database without its campaigns table
    (an empty file, a copy of an archive made without its -wal) is ArchiveUnusable, and nothing is written."""

    def __init__(self, db: str, create: bool = True):
        self.db = db
        check_database_url(db)
        url = database_url(db)
        if url.startswith("sqlite:///"):  # messages name the path as the user gave it
            path = os.path.expanduser(db) if "://" not in db else url[len("sqlite:///"):]
            check_archive_path(path, known_revisions(), require_campaigns=not create)
        try:
            self.engine = make_engine(db)
        except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
            raise ArchiveUnusable(f"--db {display_name(db)}: not a usable database URL ({exc}); "
                                  f"use a file path or postgresql+psycopg://USER@HOST/DB") from None
        try:
            if not create and not url.startswith("sqlite"):
                self._require_campaigns()
            upgrade(self.engine)
        except DatabaseError as exc:
            self.engine.dispose()  # closing the last connection removes the -wal/-shm it opened
            raise ArchiveUnusable(describe_sqlite_error(display_name(db), exc)) from None
        except ArchiveUnusable:
            self.engine.dispose()
            raise
        self._session = sessionmaker(self.engine, expire_on_commit=False, class_=ResilientSession)
        # closed when close() is called, when the object is collected, or at interpreter exit: whichever
        # comes first leaves the file whole (a command's archive may be collected before the CLI exits)
        self._finalizer = weakref.finalize(self, _close_engine, self.engine)
        _OPEN.add(self)

    def _require_campaigns(self) -> None:
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("campaigns"):
                raise ArchiveUnusable(f"{display_name(self.db)} holds no evolve archive (no campaigns table); "
                                      f"start a campaign in it with `evolve run TASK --db URL`")

    def session(self) -> Session:
        held = self._held()  # inside `with archive.transaction():` on this thread: join it
        return held.sessions() if held is not None else self._session()

    def close(self) -> None:
        """Leave the archive whole in its file (SQLite: the write-ahead log checkpointed), then disconnect."""
        _OPEN.discard(self)
        self._finalizer()

    # ---- programs ------------------------------------------------------------------------
    def add_program(self, campaign_id: int, *, iteration: int, code: str | None, code_hash: str | None,
                    parent_id: int | None, inspiration_ids: Iterable[int], mutator: str, operator: str,
                    edit: dict[str, Any], generation: int, island: int, state: ProgramState,
                    duplicate_of: int | None = None, link_llm_calls: bool = True) -> int:
        """Store iteration `iteration`'s program; `link_llm_calls=False` (a campaign that makes no LLM calls)
        skips pointing the iteration's logged LLM calls at it."""
        state = ProgramState(state)
        with self.session() as s:
            program = Program(campaign_id=campaign_id, iteration=iteration, code=code, code_hash=code_hash,
                              parent_id=parent_id, inspiration_ids=list(inspiration_ids), mutator=mutator,
                              operator=operator, edit=edit, generation=generation, island=island, state=state.value,
                              duplicate_of=duplicate_of)
            s.add(program)
            try:
                s.flush()
            except IntegrityError:
                raise ArchiveError(f"campaign {campaign_id} already has a program for iteration {iteration}") from None
            # the LLM calls this iteration made (logged before the program existed) now point at it
            if link_llm_calls:
                s.execute(update(LLMCall).where(LLMCall.campaign_id == campaign_id, LLMCall.iteration == iteration,
                                                LLMCall.program_id.is_(None)).values(program_id=program.id))
            if state is ProgramState.DUPLICATE:
                s.add(Event(campaign_id=campaign_id, kind="duplicate", program_id=program.id,
                            data={"duplicate_of": duplicate_of, "iteration": iteration}))
            elif state is ProgramState.FAILED_EDIT:
                s.add(Event(campaign_id=campaign_id, kind="failed_edit", program_id=program.id,
                            data={"iteration": iteration, "error": edit.get("error")}))
            s.commit()
            return program.id

    def program(self, program_id: int) -> Program:
        with self.session() as s:
            found = s.get(Program, program_id)
        if found is None:
            raise ArchiveError(f"no program {program_id}")
        return found

    def program_views(self, program_ids: Iterable[int], horizon: Horizon = EVERYTHING) -> dict[int, dict[str, Any]]:
        """What a mutator may see of each program (code, lineage facts, training score, metrics, artifacts);
        a program the horizon has not decided shows no evaluation."""
        return {pid: view_at(row, horizon) for pid, row in self.program_rows(program_ids).items()}

    def program_rows(self, program_ids: Iterable[int]) -> dict[int, ProgramRow]:
        """Each program's view with its iteration and whether it has a training evaluation, as stored: a row
        with one never changes again (a training evaluation is never replaced), so a reader may keep it."""
        ids = list(dict.fromkeys(program_ids))
        with self.session() as s:
            rows = s.execute(select(Program.id, Program.code, Program.generation, Program.island, Program.operator,
                                    Evaluation.score, Evaluation.metrics, Evaluation.artifacts, Program.iteration,
                                    Evaluation.id)
                             .outerjoin(Evaluation, (Evaluation.program_id == Program.id)
                                        & (Evaluation.role == EvaluationRole.TRAIN.value))
                             .where(Program.id.in_(ids))).all()
        return {r[0]: ProgramRow({"id": r[0], "code": r[1], "generation": r[2], "island": r[3], "operator": r[4],
                                  "score": r[5], "metrics": dict(r[6] or {}), "artifacts": dict(r[7] or {})},
                                 iteration=r[8], evaluated=r[9] is not None) for r in rows}

    def iteration_states(self, campaign_id: int) -> dict[int, str]:
        """Every iteration's program state, for a loop that resumes the campaign."""
        with self.session() as s:
            return dict(s.execute(select(Program.iteration, Program.state).where(Program.campaign_id == campaign_id)).all())

    def known_programs(self, campaign_id: int) -> dict[str, tuple[int, int]]:
        """Normalized code hash -> (program id, iteration) of the earliest program with it, over the programs a
        later twin duplicates."""
        with self.session() as s:
            rows = s.execute(select(Program.code_hash, Program.id, Program.iteration).where(
                Program.campaign_id == campaign_id, Program.code_hash.is_not(None),
                Program.state.in_([s.value for s in KNOWN_PROGRAM_STATES])).order_by(Program.iteration)).all()
        known: dict[str, tuple[int, int]] = {}
        for code_hash, program_id, iteration in rows:
            known.setdefault(code_hash, (program_id, iteration))
        return known

    def iterations_of(self, program_ids: Iterable[int]) -> dict[int, int]:
        """Program id -> the iteration that made it (0: the seed): a program's number within its campaign."""
        ids = list(dict.fromkeys(program_ids))
        with self.session() as s:
            return dict(s.execute(select(Program.id, Program.iteration).where(Program.id.in_(ids))).all())

    def iterations_done(self, campaign_id: int) -> set[int]:
        with self.session() as s:
            return set(s.scalars(select(Program.iteration).where(Program.campaign_id == campaign_id)))

    def pending_programs(self, campaign_id: int) -> list[Program]:
        with self.session() as s:
            return list(s.scalars(select(Program).where(Program.campaign_id == campaign_id,
                                                       Program.state == ProgramState.PENDING.value)
                                  .order_by(Program.iteration)))

    def seed_program(self, campaign_id: int) -> Program | None:
        with self.session() as s:
            return s.scalar(select(Program).where(Program.campaign_id == campaign_id, Program.iteration == 0))

    # ---- evaluations and elites ------------------------------------------------------------
    def record_training(self, program_id: int, split: str, result, *, grid: Grid | None = None,
                        islands: Iterable[int] = ()) -> PlacementOutcome:
        """Store a program's training evaluation (its verdict). Given a grid, an ok result competes for its cell
        on each island at once; the loop passes none and lets verdicts compete in iteration order (`apply`)."""
        outcome = PlacementOutcome(None, False, False)
        with self.session() as s:
            program = s.get(Program, program_id)
            s.add(self._evaluation_row(program_id, split, EvaluationRole.TRAIN, result))
            try:
                s.flush()
            except IntegrityError:
                raise ArchiveError(f"program {program_id} already has a {split} evaluation") from None
            program.state = ProgramState.EVALUATED.value
            if not result.ok:
                s.add(Event(campaign_id=program.campaign_id, kind="failure", program_id=program_id,
                            data={"status": result.status.value,
                                  "message": str(result.artifacts.get("message", ""))[:300]}))
            elif grid is not None:
                outcome = self._place(s, program, grid.key(result.descriptors), result.score, islands)
            s.commit()
        return outcome

    def apply(self, campaign_id: int, iteration: int, *, grid: Grid, islands: Iterable[int]) -> PlacementOutcome:
        """Let iteration `iteration`'s verdict enter the archive's decisions: an ok training evaluation competes
        for its cell on each island; the campaign's applied horizon moves to `iteration` in the same
        transaction. The loop calls this in iteration order, once per iteration."""
        outcome = PlacementOutcome(None, False, False)
        with self.session() as s:
            row = s.execute(select(Program, Evaluation)
                            .outerjoin(Evaluation, (Evaluation.program_id == Program.id)
                                       & (Evaluation.role == EvaluationRole.TRAIN.value))
                            .where(Program.campaign_id == campaign_id, Program.iteration == iteration)).first()
            if row is not None and row[1] is not None and row[1].status == "ok":
                program, evaluation = row
                outcome = self._place(s, program, grid.key(evaluation.descriptors), evaluation.score, islands)
            s.execute(update(CampaignRecord).where(CampaignRecord.id == campaign_id)
                      .values(applied_through=iteration))
            s.commit()
        return outcome

    def occupied_keys(self, campaign_id: int, grid: Grid, through: int) -> set[str]:
        """The cells some island's elite held once the verdicts of iterations up to `through` were applied:
        a cell, once held, stays held (a better program or a migrant only replaces its elite), so these
        are the cells of the ok training verdicts up to there."""
        with self.session() as s:
            rows = s.scalars(select(Evaluation.descriptors).join(Program, Program.id == Evaluation.program_id)
                             .where(Program.campaign_id == campaign_id, Program.iteration <= through,
                                    Evaluation.role == EvaluationRole.TRAIN.value, Evaluation.status == "ok")).all()
        return {grid.key(descriptors or {}) for descriptors in rows}

    def trained_through(self, campaign_id: int, through: int) -> int:
        """How many programs of iterations up to `through` have a training verdict (the seed included)."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Program).where(
                Program.campaign_id == campaign_id, Program.iteration <= through,
                Program.state == ProgramState.EVALUATED.value)) or 0

    def applied_through(self, campaign_id: int) -> int:
        """The last iteration whose verdict the archive's decisions include (-1: not even the seed's)."""
        with self.session() as s:
            value = s.scalar(select(CampaignRecord.applied_through).where(CampaignRecord.id == campaign_id))
        return -1 if value is None else value

    def record_report(self, program_id: int, split: str, result) -> Evaluation:
        """Store (or redo) a reporting evaluation (held-out, leaderboard); it never competes for a cell."""
        with self.session() as s:
            program = s.get(Program, program_id)
            if program is None:
                raise ArchiveError(f"no program {program_id}")
            existing = s.scalar(select(Evaluation).where(Evaluation.program_id == program_id,
                                                         Evaluation.split == split))
            if existing is not None:
                if existing.role == EvaluationRole.TRAIN.value:
                    raise ArchiveError(f"program {program_id}'s {split} evaluation placed it in the archive; "
                                       f"it cannot be replaced")
                if existing.role == EvaluationRole.VALIDATION.value:
                    return existing  # it chose (or may choose) the campaign's best: kept as it is
                s.delete(existing)
                s.flush()
            evaluation = self._evaluation_row(program_id, split, EvaluationRole.REPORT, result)
            s.add(evaluation)
            s.commit()
            return evaluation

    @staticmethod
    def _evaluation_row(program_id: int, split: str, role: EvaluationRole, result) -> Evaluation:
        return Evaluation(program_id=program_id, split=split, role=role.value, status=result.status.value,
                          score=result.score, metrics=result.metrics, descriptors=result.descriptors,
                          artifacts=result.artifacts, wall_time=result.wall_time, cpu_time=result.cpu_time)

    @staticmethod
    def _lock_cells(s: Session, campaign_id: int) -> float | None:
        """Serialise cell competition within one campaign and return its best score, in one round trip.

        Two writers reading the same empty cell would both insert it: on PostgreSQL the campaign row
        is locked until commit (NO KEY UPDATE: inserts that merely reference the campaign go on);
        SQLite has one writer at a time already and renders no lock clause.
        """
        best = select(func.max(Cell.score)).where(Cell.campaign_id == campaign_id).scalar_subquery()
        query = select(best).select_from(CampaignRecord).where(CampaignRecord.id == campaign_id)
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=CampaignRecord, key_share=True)
        return s.scalar(query)

    def _place(self, s: Session, program: Program, key: str, score: float, islands: Iterable[int]) -> PlacementOutcome:
        best = self._lock_cells(s, program.campaign_id)
        islands = list(islands)
        cells = {c.island: c for c in s.scalars(select(Cell).where(
            Cell.campaign_id == program.campaign_id, Cell.key == key, Cell.island.in_(islands)))}
        new_elite = False
        for island in islands:
            cell = cells.get(island)
            if cell is None:
                s.add(Cell(campaign_id=program.campaign_id, island=island, key=key, program_id=program.id, score=score))
                new_elite = True
            elif score > cell.score:
                cell.program_id, cell.score = program.id, score
                new_elite = True
        new_best = best is None or score > best
        if new_elite:
            s.add(Event(campaign_id=program.campaign_id, kind="new_best" if new_best else "new_elite",
                        program_id=program.id, data={"cell": key, "score": score, "island": program.island}))
        return PlacementOutcome(key, new_elite, new_best and new_elite)

    def migrate(self, campaign_id: int, islands: int, grid: Grid, round_index: int) -> None:
        """Ring migration: each island's best elite competes for its cell on the next island."""
        if islands < 2:
            return
        with self.session() as s:
            self._lock_cells(s, campaign_id)
            moved = []
            for island in range(islands):
                best = s.scalar(select(Cell).where(Cell.campaign_id == campaign_id, Cell.island == island)
                                .order_by(Cell.score.desc(), Cell.program_id).limit(1))
                if best is not None:
                    moved.append((best.program_id, best.key, best.score, (island + 1) % islands))
            for program_id, key, score, target in moved:
                cell = s.get(Cell, (campaign_id, target, key))
                if cell is None:
                    s.add(Cell(campaign_id=campaign_id, island=target, key=key, program_id=program_id, score=score))
                elif score > cell.score:
                    cell.program_id, cell.score = program_id, score
            s.add(Event(campaign_id=campaign_id, kind="migration",
                        data={"round": round_index, "moved": [[p, t] for p, _, _, t in moved]}))
            s.commit()

    def elites(self, campaign_id: int, island: int | None = None) -> list[Elite]:
        with self.session() as s:
            query = select(Cell.program_id, Cell.key, Cell.score).where(Cell.campaign_id == campaign_id)
            if island is not None:
                query = query.where(Cell.island == island)
            rows = s.execute(query).all()
        elites = [Elite(p, k, sc) for p, k, sc in rows]
        return best_per_cell(elites) if island is None else elites  # one entry per cell across the islands

    def elites_by_island(self, campaign_id: int) -> list[tuple[int, Elite]]:
        """Every occupied cell of every island with its elite, by island and key: one query."""
        with self.session() as s:
            rows = s.execute(select(Cell.island, Cell.program_id, Cell.key, Cell.score)
                             .where(Cell.campaign_id == campaign_id).order_by(Cell.island, Cell.key)).all()
        return [(island, Elite(program_id, key, score)) for island, program_id, key, score in rows]

    def evaluation(self, program_id: int, split: str) -> Evaluation | None:
        with self.session() as s:
            return s.scalar(select(Evaluation).where(Evaluation.program_id == program_id, Evaluation.split == split))

    def training_evaluation(self, program_id: int) -> Evaluation | None:
        with self.session() as s:
            return s.scalar(select(Evaluation).where(Evaluation.program_id == program_id,
                                                     Evaluation.role == EvaluationRole.TRAIN.value))

    def best(self, campaign_id: int) -> tuple[Program, Evaluation] | None:
        """The top elite and the training evaluation that earned its cell (held-out scores never compete)."""
        with self.session() as s:
            top = s.scalar(select(Cell).where(Cell.campaign_id == campaign_id)
                           .order_by(Cell.score.desc(), Cell.program_id).limit(1))
            if top is None:
                return None
            program = s.get(Program, top.program_id)
            evaluation = s.scalar(select(Evaluation).where(Evaluation.program_id == program.id,
                                                           Evaluation.role == EvaluationRole.TRAIN.value))
        return program, evaluation

    def recent_attempts(self, campaign_id: int, limit: int = 8, horizon: Horizon = EVERYTHING) -> list[dict[str, Any]]:
        """The latest `limit` children the horizon has seen proposed, newest first, with their training outcome
        (pending for those it has not decided)."""
        with self.session() as s:
            rows = s.execute(select(Program.id, Program.operator, Program.mutator, Program.state, Program.parent_id,
                                    Evaluation.status, Evaluation.score, Program.iteration)
                             .outerjoin(Evaluation, (Evaluation.program_id == Program.id)
                                        & (Evaluation.role == EvaluationRole.TRAIN.value))
                             .where(Program.campaign_id == campaign_id, Program.iteration > 0,
                                    Program.iteration <= horizon.proposed_through)
                             .order_by(Program.iteration.desc()).limit(limit)).all()
        return [{"program_id": r[0], "operator": r[1], "mutator": r[2], "state": r[3], "parent_id": r[4],
                 "status": r[5], "score": r[6]} if horizon.decided(r[7]) else
                {"program_id": r[0], "operator": r[1], "mutator": r[2], "state": ProgramState.PENDING.value,
                 "parent_id": r[4], "status": None, "score": None} for r in rows]

    def stats(self, campaign_id: int) -> dict[str, Any]:
        with self.session() as s:
            programs = dict(s.execute(select(Program.state, func.count()).where(Program.campaign_id == campaign_id)
                                      .group_by(Program.state)).all())
            statuses = dict(s.execute(select(Evaluation.status, func.count()).join(Program)
                                      .where(Program.campaign_id == campaign_id, Evaluation.role == EvaluationRole.TRAIN.value)
                                      .group_by(Evaluation.status)).all())
            best = s.scalar(select(func.max(Cell.score)).where(Cell.campaign_id == campaign_id))
            cells = s.scalar(select(func.count(func.distinct(Cell.key))).where(Cell.campaign_id == campaign_id))
            eval_time = s.scalar(select(func.sum(Evaluation.wall_time)).join(Program)
                                 .where(Program.campaign_id == campaign_id)) or 0.0
            children = s.scalar(select(func.count()).select_from(Program)
                                .where(Program.campaign_id == campaign_id, Program.iteration > 0)) or 0
        return {"iterations_done": children, "programs": programs, "evaluations": statuses,
                "evaluated": sum(statuses.values()), "failures": sum(v for k, v in statuses.items() if k != "ok"),
                "best_score": best, "cells_filled": cells or 0, "evaluation_seconds": eval_time,
                "validations": self.count_validations(campaign_id),
                "spend": self.spend(campaign_id)}

    def events(self, campaign_id: int, after_id: int = 0, limit: int = 100) -> list[Event]:
        with self.session() as s:
            return list(s.scalars(select(Event).where(Event.campaign_id == campaign_id, Event.id > after_id)
                                  .order_by(Event.id).limit(limit)))

    def count_events(self, campaign_id: int, kind: str) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Event)
                            .where(Event.campaign_id == campaign_id, Event.kind == kind)) or 0

    def log_event(self, campaign_id: int, kind: str, program_id: int | None = None, **data: Any) -> None:
        with self.session() as s:
            s.add(Event(campaign_id=campaign_id, kind=kind, program_id=program_id, data=data))
            s.commit()
