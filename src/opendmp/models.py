"""Every table, imported once so Alembic and the tests see the whole schema."""

from __future__ import annotations

from opendmp.access import models as access_models
from opendmp.auth import account_models, staff_models
from opendmp.auth import models as auth_models
from opendmp.consent import models as consent_models
from opendmp.content import models as content_models
from opendmp.document import models as document_models
from opendmp.establishment import models as establishment_models
from opendmp.feed import models as feed_models
from opendmp.identity import models as identity_models
from opendmp.journal import models as journal_models
from opendmp.kit.base import Base
from opendmp.notify import models as notify_models
from opendmp.record import models as record_models
from opendmp.stats import models as stats_models
from opendmp.summary import models as summary_models

metadata = Base.metadata

__all__ = [
    "access_models",
    "account_models",
    "auth_models",
    "consent_models",
    "content_models",
    "document_models",
    "establishment_models",
    "feed_models",
    "identity_models",
    "journal_models",
    "metadata",
    "notify_models",
    "record_models",
    "staff_models",
    "stats_models",
    "summary_models",
]
