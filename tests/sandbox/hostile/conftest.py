import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: docker_support

from docker_support import docker_client, docker_image  # noqa: E402,F401  (fixtures)
