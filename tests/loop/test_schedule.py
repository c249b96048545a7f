"""The schedule's rules, simulated over random completion orders: an iteration is prepared exactly when the
verdicts of its horizon are applied, and everything finishes whatever order evaluations end in."""
import random

import pytest

from evolve.loop.schedule import Schedule


@pytest.mark.parametrize("lag, sees_earlier", [(0, True), (2, True), (4, False), (16, False)])
@pytest.mark.parametrize("seed", range(5))
def test_each_iteration_is_prepared_when_exactly_its_horizon_is_applied(lag, sees_earlier, seed):
    rng, last = random.Random(seed), 40
    schedule = Schedule(lag, last, sees_earlier, committed_through=0)  # the seed (iteration 0) is committed
    proposing, evaluating = [], [0]
    while not schedule.finished:
        moved = True
        while moved:
            moved = False
            while schedule.may_apply():
                schedule.applied()
                moved = True
            while schedule.may_prepare():
                i = schedule.prepared()
                assert schedule.applied_through == max(i - lag - 1, -1) and schedule.sees_live_cells(i)
                proposing.append(i)
                moved = True
            while schedule.next_commit() in proposing and rng.random() < 0.7:
                proposing.remove(schedule.next_commit())
                evaluating.append(schedule.next_commit())
                schedule.committed(schedule.next_commit())
                moved = True
        if schedule.finished:
            break
        assert evaluating or proposing, "stalled"
        if evaluating and (not proposing or rng.random() < 0.5):  # any evaluation may end first
            schedule.decide(evaluating.pop(rng.randrange(len(evaluating))))
    assert schedule.applied_through == last and not proposing


def test_after_a_resume_an_iteration_proposed_again_is_told_its_cells_are_rebuilt():
    # killed with iterations 11 and 12 prepared but not committed, and iteration 7 applied already (lag 4)
    schedule = Schedule(4, 40, False, committed_through=10, applied_through=7)
    assert schedule.may_prepare() and schedule.prepared() == 11
    assert not schedule.sees_live_cells(11) and schedule.horizon(11).decided_through == 6
