"""Imports every table module so ``SQLModel.metadata`` is complete (Alembic, drift test)."""

from sqlmodel import SQLModel

from service.audit_log import models as _audit_models  # noqa: F401
from service.consent import models as _consent_models  # noqa: F401
from service.crypto import models as _crypto_models  # noqa: F401
from service.identity import lockout as _lockout_models  # noqa: F401
from service.identity import models as _identity_models  # noqa: F401
from service.identity import revocation as _revocation_models  # noqa: F401
from service.portal import models as _portal_models  # noqa: F401
from service.records import models as _record_models  # noqa: F401
from service.remedies import models as _remedy_models  # noqa: F401
from service.subjects import models as _subject_models  # noqa: F401

metadata = SQLModel.metadata
