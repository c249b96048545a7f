"""When each iteration of a campaign may do what, so that what iteration i sees is a function of i alone.

An iteration goes through four steps:

- **prepare**: read the archive (parent, inspirations, history) and build the mutation context;
- **commit**: store the proposal; duplicates are judged against every earlier iteration's program;
- **decide**: its verdict (training evaluation, cut, functional duplicate...) is stored;
- **apply**: its verdict competes for MAP-Elites cells (and counts toward migrations).

With `lag` L, iteration i is prepared once the verdicts of iterations 0..i-L-1 have been applied
(its *horizon*: archive/horizon.py), and - for a mutator that sees earlier proposals - once every
iteration before i is committed. Preparations, commits and applications each go in iteration
order, and iteration j is applied only once iteration j+L (or the campaign's last iteration, if
sooner) is prepared, so when i is prepared exactly the verdicts of its horizon are applied. After a
kill -9 an iteration prepared but not committed is prepared again, possibly with later verdicts
applied: the loop then rebuilds the cells of its horizon (archive/cells_at.py). Decisions come in
any order: that is where workers run in parallel, with up to L+1 iterations between prepared and
applied. The same seed then gives the same campaign at any worker count: more workers only finish
it sooner.
"""
from __future__ import annotations

from archive.horizon import Horizon


class Schedule:
    def __init__(self, lag: int, last: int, sees_earlier_proposals: bool, *, committed_through: int = -1,
                 applied_through: int = -1, decided: set[int] | None = None):
        if lag < 0:
            raise ValueError("lag must be >= 0")
        self.lag = lag
        self.last = last                          # the campaign's last iteration
        self.sees_earlier_proposals = sees_earlier_proposals
        self.next_prepare = committed_through + 1  # iterations after the last commit are proposed (again)
        self.committed_through = committed_through
        self.applied_through = applied_through
        self.decided = set(decided or ())          # iterations with a stored verdict, not yet applied

    def sees_live_cells(self, iteration: int) -> bool:
        """Whether the cells now are those of the iteration's horizon (always, except just after a resume)."""
        return self.applied_through == max(iteration - self.lag - 1, -1)

    def horizon(self, iteration: int) -> Horizon:
        decided = iteration - self.lag - 1
        proposed = iteration - 1 if self.sees_earlier_proposals else decided
        return Horizon(proposed_through=proposed, decided_through=decided)

    # ---- prepare ---------------------------------------------------------------------------
    def may_prepare(self, stopping: bool = False) -> bool:
        i = self.next_prepare
        if stopping or i > self.last:
            return False
        if self.applied_through < max(i - self.lag - 1, -1):
            return False
        return not self.sees_earlier_proposals or self.committed_through == i - 1

    def prepared(self) -> int:
        i, self.next_prepare = self.next_prepare, self.next_prepare + 1
        return i

    # ---- commit ----------------------------------------------------------------------------
    def next_commit(self) -> int:
        return self.committed_through + 1

    def committed(self, iteration: int) -> None:
        if iteration != self.committed_through + 1:
            raise RuntimeError(f"iteration {iteration} committed out of order (after {self.committed_through})")
        self.committed_through = iteration

    # ---- decide and apply ------------------------------------------------------------------
    def decide(self, iteration: int) -> None:
        self.decided.add(iteration)

    def may_apply(self) -> bool:
        j = self.applied_through + 1
        if j not in self.decided:
            return False
        return self.next_prepare - 1 >= min(j + self.lag, self.last)

    def applied(self) -> int:
        j = self.applied_through + 1
        self.decided.discard(j)
        self.applied_through = j
        return j

    @property
    def finished(self) -> bool:
        return self.applied_through >= self.last
