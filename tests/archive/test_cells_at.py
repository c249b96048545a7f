"""The cells rebuilt at a horizon (what an iteration proposed again after a resume sees) are the cells the
loop built: here, at the end of a real campaign with three islands and ring migrations."""
import asyncio

from archive import Archive
from core_support import TOY_TASK
from evolve.campaign import Campaign
from evolve.config import build_config


def test_cells_rebuilt_from_the_verdicts_equal_the_live_cells(tmp_path):
    archive = Archive(str(tmp_path / "a.db"))
    try:
        config = build_config(None, {"task_dir": str(TOY_TASK), "iterations": 40, "workers": 2,
                                     "heldout_report": False, "islands": {"count": 3, "migration_interval": 4}})
        campaign = Campaign.create(archive, config)
        assert asyncio.run(campaign.run()).summary["state"] == "finished"
        live: dict[int, list] = {}
        for island, elite in archive.elites_by_island(campaign.id):
            live.setdefault(island, []).append(elite)
        rebuilt = archive.elites_at(campaign.id, campaign.grid, 3, 4, 40)
        assert archive.count_events(campaign.id, "migration") >= 5
        assert {island: elites for island, elites in rebuilt.items() if elites} == live
        seed_only = archive.elites_at(campaign.id, campaign.grid, 3, 4, 0)
        assert all(len(elites) == 1 for elites in seed_only.values())  # the seed on every island
    finally:
        archive.close()
