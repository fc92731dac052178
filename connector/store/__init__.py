"""The own database: models, engines and sessions, secret encryption, migrations."""

from connector.store import versioning  # noqa: F401 - registers the version stamps
from connector.store.crypto import SecretBox
from connector.store.db import Database, make_engine
from connector.store.models import Base

__all__ = ["Base", "Database", "SecretBox", "make_engine"]
