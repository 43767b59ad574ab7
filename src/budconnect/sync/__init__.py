"""The client deployments run: keep a local copy of one engine version, always complete and valid.

from budconnect.sync import SyncClient

client = SyncClient("http://registry:8000", "litellm", "1.100.5", state_dir)
outcome = client.sync_once()      # one poll
client.run(interval=300)          # poll forever, with backoff and jitter
"""

from budconnect.sync.client import SyncClient, SyncOutcome
from budconnect.sync.files import LocalConfig

__all__ = ["LocalConfig", "SyncClient", "SyncOutcome"]
