"""Pure policy decisions and versioned policy data for creditgate.

Nothing here performs I/O beyond reading the package's own TOML data files,
and nothing imports from ``service`` or ``audit``.
"""

from policies.access import (
    AccessRequest,
    ConsentState,
    ConsentView,
    Decision,
    Reason,
    Viewer,
    decide,
)
from policies.errors import PolicyDataError
from policies.identifiers import (
    InvalidIdentifier,
    ResidentId,
    age_on,
    make_resident_id,
    make_uscc,
    normalize_resident_id,
    parse_resident_id,
    validate_uscc,
)
from policies.masking import (
    FieldKind,
    MaskingPolicy,
    MaskRule,
    Role,
    RuleKind,
    load_masking_policy,
    parse_masking_policy,
)
from policies.purposes import (
    INSTITUTION_TYPES,
    Category,
    ConsentSettings,
    Purpose,
    load_categories,
    load_consent_settings,
    load_purposes,
    parse_categories,
    parse_consent_settings,
    parse_purposes,
)

__all__ = [
    "INSTITUTION_TYPES",
    "AccessRequest",
    "Category",
    "ConsentSettings",
    "ConsentState",
    "ConsentView",
    "Decision",
    "FieldKind",
    "InvalidIdentifier",
    "MaskRule",
    "MaskingPolicy",
    "PolicyDataError",
    "Purpose",
    "Reason",
    "ResidentId",
    "Role",
    "RuleKind",
    "Viewer",
    "age_on",
    "decide",
    "load_categories",
    "load_consent_settings",
    "load_masking_policy",
    "load_purposes",
    "make_resident_id",
    "make_uscc",
    "normalize_resident_id",
    "parse_categories",
    "parse_consent_settings",
    "parse_masking_policy",
    "parse_purposes",
    "parse_resident_id",
    "validate_uscc",
]
