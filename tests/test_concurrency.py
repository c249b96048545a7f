"""The proposal window: sized from measured latencies, halved on 429, capped by config and budget."""
from __future__ import annotations

from evolve.concurrency import ProposalWindow


def grow(window: ProposalWindow, proposals: int, latency: float, rate_limited: int = 0) -> None:
    for _ in range(proposals):
        window.proposal_done(latency, rate_limited)


def test_fixed_proposals_never_move():
    window = ProposalWindow(workers=2, fixed=3, adaptive=True)
    window.evaluation_done(0.05)
    grow(window, 50, 1.0, rate_limited=7)
    assert window.limit == 3 and not window.adaptive


def test_opens_to_what_the_workers_need_at_the_first_measurement():
    window = ProposalWindow(workers=2, fixed=None, adaptive=True, cap=64)
    assert window.limit == 16  # 8 per worker until something is measured
    for _ in range(20):
        window.evaluation_done(0.05)
    grow(window, 100, 1.0)
    # 2 workers finishing an evaluation every 50 ms need 2 x 1.0 / 0.05 = 40 calls in flight; 1.5x that and a buffer of 2
    assert window.target == 62 and window.limit == 62


def test_shrinks_when_evaluations_are_the_bottleneck():
    window = ProposalWindow(workers=2, fixed=None, adaptive=True, cap=64)
    window.evaluation_done(0.05)
    grow(window, 60, 1.0)
    for _ in range(40):
        window.evaluation_done(5.0)  # evaluations got slow: few proposals keep the workers busy
    grow(window, 60, 1.0)
    assert window.limit == window.target == 3


def test_halves_on_rate_limit_then_holds_then_grows():
    window = ProposalWindow(workers=2, fixed=None, adaptive=True, cap=64)
    window.evaluation_done(0.05)
    grow(window, 40, 1.0)
    before = window.limit
    window.proposal_done(1.0, rate_limited_total=1)
    assert window.limit == before // 2
    held = window.limit
    grow(window, held, 1.0, rate_limited=1)  # one window's worth of completions: no growth yet
    assert window.limit == held
    grow(window, 1, 1.0, rate_limited=1)
    assert window.limit == window.target == 62  # then straight back to what the workers need


def test_cap_and_budget_bound_the_window():
    window = ProposalWindow(workers=2, fixed=None, adaptive=True, cap=8)
    window.evaluation_done(0.05)
    grow(window, 40, 1.0)
    assert window.limit == 8
    window.affordable = 3
    window.proposal_done(1.0, 0)
    assert window.limit == 3


def test_offline_campaigns_keep_one_proposal_per_worker():
    window = ProposalWindow(workers=2, fixed=None, adaptive=False)
    window.evaluation_done(0.05)
    grow(window, 40, 1.0)
    assert window.limit == 2


def test_a_budgeted_campaign_starts_at_one_call_per_worker():
    assert ProposalWindow(workers=2, fixed=None, adaptive=True, budgeted=True).limit == 2
    assert ProposalWindow(workers=2, fixed=None, adaptive=True, budgeted=False).limit == 16
