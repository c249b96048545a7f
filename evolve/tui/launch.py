"""Start `evolve run` / `evolve resume` as detached processes: closing the TUI never stops them."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from archive import Archive, CampaignState

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def log_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "evolve" / "campaigns"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclasses.dataclass
class Launched:
    process: subprocess.Popen
    log: Path
    command: list[str]

    def wait_started(self, archive: Archive, known_ids: set[int], timeout: float = 20.0) -> tuple[int | None, str | None]:
        """(new campaign id, None) once the campaign exists, or (None, the failure's last log line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = {c.id for c in archive.campaigns()}
            new = sorted(ids - known_ids)
            if new:
                return new[-1], None
            code = self.process.poll()
            if code is not None:
                return None, last_line(self.log) or f"exited with code {code}"
            time.sleep(0.1)
        return None, None

    def wait_running(self, archive: Archive, campaign_id: int, timeout: float = 20.0) -> str | None:
        """None once the campaign is claimed by the new process, else the failure's last log line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            campaign = archive.campaign(campaign_id)
            if campaign.state in (CampaignState.RUNNING, CampaignState.FINISHED) and campaign.pid == self.process.pid:
                return None
            code = self.process.poll()
            if code is not None:
                return last_line(self.log) if code else None
            time.sleep(0.1)
        return None


def last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _spawn(args: list[str], tag: str, cwd: str | None) -> Launched:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    log = log_dir() / f"{tag}-{stamp}.log"
    command = [sys.executable, "-m", "evolve", *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("COLUMNS", "120")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=cwd or os.getcwd(), env=env, start_new_session=True)
    return Launched(process, log, command)


def launch_run(config, db: str, cwd: str | None = None) -> Launched:
    """Write the validated config beside the log and run it detached."""
    data = config.model_dump(mode="json", exclude_none=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = log_dir() / f"{config.name or config.task or 'campaign'}-{stamp}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return _spawn(["run", "--config", str(path), "--db", db], f"run-{config.task or 'task'}", cwd)


def launch_resume(campaign_id: int, db: str, cwd: str | None = None) -> Launched:
    return _spawn(["resume", str(campaign_id), "--db", db], f"resume-{campaign_id}", cwd)
