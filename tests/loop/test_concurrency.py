"""The proposal window: opened on the latency's lower bound before the first reply, sized from measured
latencies after it, cut on 429s, capped by config and budget. Driven with explicit times."""
from __future__ import annotations

import random

from evolve.loop.concurrency import ProposalWindow


def grow(window: ProposalWindow, proposals: int, latency: float, rate_limited: int = 0) -> None:
    for _ in range(proposals):
        window.proposal_done(latency, rate_limited, in_flight=window.limit)


def settle(window: ProposalWindow, now: float) -> None:
    """The loop's wake-ups until the applied window has caught up with its goal."""
    for _ in range(100):
        if window.limit == window.goal:
            return
        window.tick(now, window.rate_limited_seen, window.limit)
    raise AssertionError("the window never reached its goal")


def opened(workers: int = 2, cap: int = 64, evaluation_s: float = 0.05, budgeted: bool = False) -> ProposalWindow:
    """An LLM window whose first call left at t=0 and whose seed took `evaluation_s`."""
    window = ProposalWindow(workers=workers, fixed=None, adaptive=True, cap=cap, budgeted=budgeted)
    window.started(0.0)
    window.evaluation_done(evaluation_s)
    return window


def test_fixed_proposals_never_move():
    window = ProposalWindow(workers=2, fixed=3, adaptive=True)
    window.started(0.0)
    window.evaluation_done(0.05)
    window.tick(5.0, 0, 3)
    assert window.wake_in(5.0) is None
    grow(window, 50, 1.0, rate_limited=7)
    assert window.limit == 3 and not window.adaptive


def test_holds_its_opening_guess_until_the_service_time_is_known():
    window = ProposalWindow(workers=2, fixed=None, adaptive=True)
    window.started(0.0)
    window.tick(0.5, 0, 8)
    assert window.limit == 8 and window.wake_in(0.5) is None  # 4 per worker: nothing to size the window with yet


def test_opens_on_the_latency_lower_bound_before_the_first_reply():
    window = opened()
    # no reply after T seconds: latency >= T, and 2 workers finishing every 50 ms need 2 x T / 0.05 in flight
    window.tick(0.1, 0, 8)
    assert window.goal == 1 * 3 * 2 + 2 == 8  # ceil(1.5 x 2 x 0.1 / 0.05) + 2
    window.tick(0.5, 0, 8)
    assert window.goal == 32
    window.tick(0.4, 0, 32)  # never closes on the bound
    assert window.goal == 32
    window.tick(1.0, 0, 32)
    assert window.goal == 62
    window.tick(5.0, 0, 62)
    assert window.goal == 64  # the cap


def test_the_applied_window_opens_by_one_call_per_event():
    window = opened()
    window.tick(1.0, 0, 8)
    assert (window.goal, window.limit) == (62, 9)  # no burst of 54 calls at once
    assert window.wake_in(1.0) == 0.02  # the loop is woken to open it further
    settle(window, 1.0)
    assert window.limit == 62
    window.tick(5.0, 0, 62)
    settle(window, 5.0)
    assert window.limit == 64 and window.wake_in(5.0) is None


def test_wakes_the_loop_when_the_bound_allows_one_more_call():
    window = opened(evaluation_s=0.5)  # the bound adds 1.5 x 2 / 0.5 = 6 calls a second
    window.tick(1.05, 0, 2)
    assert window.limit == window.goal == 9  # ceil(6.3) + 2
    wake = window.wake_in(1.05)
    assert abs(wake - (7 * 0.5 / 3 - 1.05)) < 1e-3  # when 6 x T reaches 7
    window.tick(1.05 + wake - 1e-3, 0, 9)
    assert window.limit == 9
    window.tick(1.05 + wake, 0, 9)
    assert window.limit == 10
    fast = opened(evaluation_s=0.001)  # a call due every few microseconds: the loop is not woken that often
    fast.tick(0.001, 0, 2)
    settle(fast, 0.001)
    assert fast.wake_in(0.001) == 0.02


def test_the_first_reply_replaces_the_bound():
    window = opened()
    window.tick(0.3, 0, 8)
    settle(window, 0.3)
    assert window.limit == 20
    window.proposal_done(0.3, 0, in_flight=20)  # replies come after 0.3 s: the bound was the latency
    assert window.limit == window.target == 20 and window.wake_in(0.3) is None
    window.tick(2.0, 0, 20)  # no longer opened by time passing
    assert window.limit == 20


def test_shrinks_when_evaluations_are_the_bottleneck():
    window = opened()
    grow(window, 60, 1.0)
    assert window.limit == 62
    for _ in range(40):
        window.evaluation_done(5.0)  # evaluations got slow: few proposals keep the workers busy
    grow(window, 60, 1.0)
    assert window.limit == window.target == 3


def test_a_budgeted_campaign_waits_for_the_cost_of_a_call():
    window = opened(budgeted=True)
    window.tick(3.0, 0, 2)
    assert window.limit == window.goal == 2 and window.wake_in(3.0) is None  # no opening before costs are known
    window.affordable = 5
    window.proposal_done(1.0, 0, in_flight=2)
    settle(window, 3.0)
    assert window.limit == 5  # the target (62) bounded by what the budget pays for
    window.affordable = 1
    window.proposal_done(1.0, 0, in_flight=5)
    assert window.limit == 1


def test_cap_bounds_the_window():
    window = opened(cap=8)
    window.tick(1.0, 0, 8)
    assert window.goal == window.limit == 8
    grow(window, 40, 1.0)
    assert window.limit == 8


def test_offline_campaigns_keep_one_proposal_per_worker():
    window = ProposalWindow(workers=2, fixed=None, adaptive=False)
    window.started(0.0)
    window.evaluation_done(0.05)
    window.tick(1.0, 0, 2)
    grow(window, 40, 1.0)
    assert window.limit == 2


def test_a_429_while_opening_cuts_to_what_the_server_took_and_stops_the_opening():
    window = opened()
    window.tick(0.12, 0, 8)
    settle(window, 0.12)
    assert window.limit == 10
    window.tick(0.13, 1, 10)  # the 10th call came back 429 at once: the server takes 9
    assert window.limit == window.goal == 9 and window.wake_in(0.13) is None
    window.tick(1.0, 1, 10)  # the bound no longer opens it
    assert window.limit == 9


def test_late_429s_from_calls_sent_before_the_cut_do_not_halve():
    window = opened()
    window.tick(0.2, 0, 8)
    settle(window, 0.2)
    assert window.limit == 14
    window.tick(0.21, 2, 14)  # 2 of 14 bounced: 12
    assert window.limit == 12
    window.tick(0.22, 3, 13)  # one more bounce seen with 13 still out (above the cut): the same episode
    assert window.limit == 12
    assert window.rate_limit_episodes == 1


def test_a_429_within_the_cut_window_halves_it():
    window = opened()
    window.tick(0.2, 0, 8)
    settle(window, 0.2)
    window.tick(0.21, 2, 14)
    assert window.limit == 12
    window.proposal_done(1.0, 3, in_flight=12)  # a 429 with only the window's calls out: the cut was not enough
    assert window.limit == 6


def cut_at_nine() -> ProposalWindow:
    window = opened()
    window.tick(0.12, 0, 8)
    settle(window, 0.12)
    window.tick(0.13, 1, 10)
    assert window.limit == 9
    return window


def test_after_a_429_it_probes_one_call_more_ever_more_rarely():
    window = cut_at_nine()
    grow(window, 8, 1.0, rate_limited=1)  # holding: one window's worth of successes (9) before a probe
    assert window.limit == 9
    grow(window, 1, 1.0, rate_limited=1)
    assert window.limit == 10  # the probe
    window.proposal_done(1.0, 2, in_flight=11)  # it drew a 429 (with 11 out): back to what the server took
    assert window.limit == 10 and window.rate_limit_episodes == 2
    grow(window, 19, 1.0, rate_limited=2)  # the next probe waits twice as long: 20 successes
    assert window.limit == 10
    grow(window, 1, 1.0, rate_limited=2)
    assert window.limit == 11
    grow(window, 11 * 2, 1.0, rate_limited=2)  # the probe held as long: confirmed; past the last 429's
    assert window.goal == 12                    # ceiling (11 in flight) the probes stay one call each
    grow(window, 12 * 2, 1.0, rate_limited=2)
    assert window.goal == 13


def test_a_limit_met_twice_at_the_same_calls_is_probed_most_rarely():
    """A provider's fixed concurrency limit costs two 429s to find: the first, and the probe that meets it
    again at the same number of calls in flight; the next probe waits 64 windows."""
    window = cut_at_nine()  # the first 429 came with 10 out
    grow(window, 9, 1.0, rate_limited=1)
    assert window.limit == 10
    window.proposal_done(1.0, 2, in_flight=10)  # the probe met it again at 10
    assert window.limit == 9
    grow(window, 9 * 64 - 1, 1.0, rate_limited=2)
    assert window.limit == 9
    grow(window, 1, 1.0, rate_limited=2)
    assert window.limit == 10


def test_probing_stops_at_the_target():
    window = opened()
    grow(window, 5, 0.1)  # fast replies: target ceil(1.5 x 2 x 0.1 / 0.05) + 2 = 8
    assert window.limit == 8
    window.proposal_done(0.1, 1, in_flight=8)
    assert window.limit == 7
    grow(window, 7, 0.1, rate_limited=1)
    assert window.limit == 8
    grow(window, 100, 0.1, rate_limited=1)
    assert window.limit == 8 == window.target


def fed(latency_of_load, loads) -> ProposalWindow:
    """A window after replies whose latency depended on the calls in flight when each started."""
    window = opened()
    for load in loads:
        window.proposal_done(latency_of_load(load), 0, in_flight=window.limit, load=load)
    return window


def test_a_server_that_queues_bounds_the_window_near_its_slots():
    # 4 calls worked on at a time, 1 s each, the rest queued: latency ceil(load / 4) s
    window = fed(lambda load: -(-load // 4) * 1.0, range(1, 65))
    assert window.queue_bound == 2 * 4 + 2 and window.target == 10  # not the 64 the latency alone would ask for
    for _ in range(64):  # held near the bound, calls at one load: nothing says the queue went away
        window.proposal_done(3.0, 0, in_flight=10, load=10)
    assert window.queue_bound is not None and window.limit < 32


def test_latency_that_does_not_follow_the_load_leaves_the_window_alone():
    rng = random.Random(7)
    window = fed(lambda load: rng.lognormvariate(0, 0.8), range(1, 65))  # heavy jitter, no queue
    assert window.queue_bound is None and window.goal == window.target == 64
    batching = fed(lambda load: 1.0 + load / 100, range(1, 65))  # a batching server: slower, never queueing
    assert batching.queue_bound == 64 and batching.goal == 64


def test_after_a_halving_it_regrows_in_a_few_windows():
    window = opened()
    grow(window, 60, 1.0)
    assert window.limit == 62
    window.proposal_done(1.0, 1, in_flight=62)  # a 429 at 62 in flight: cut to 61
    window.proposal_done(1.0, 2, in_flight=61)  # another within the cut window: halved
    assert window.limit == 30
    grow(window, 30 + 31 + 33 + 37 + 45, 1.0, rate_limited=2)  # probes of 1, 2, 4, 8, then up to below the ceiling
    assert window.goal == 61
    grow(window, 61, 1.0, rate_limited=2)  # and from there one call at a time
    assert window.goal == window.target == 62
