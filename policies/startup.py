"""Loading every piece of policy data at once, so that a broken file stops a
process when it starts rather than on the first request that needs it."""

from __future__ import annotations

from collections.abc import Mapping

from policies.anomaly import load_anomaly_settings
from policies.catalog import load_catalog, load_provider_levels, load_provider_types, load_severities
from policies.masking import load_masking_policy
from policies.notice import load_notice_texts
from policies.purposes import load_categories, load_consent_settings, load_purposes
from policies.remedies import load_remedy_rules
from policies.workdays import load_holidays


def load_all_policy_data() -> Mapping[str, int]:
    """Parse and validate every packaged policy file; how many entries each holds.

    Raises :class:`~policies.errors.PolicyDataError` naming the file, the key and
    the problem for the first mistake found.
    """
    return {
        "categories": len(load_categories()),
        "purposes": len(load_purposes()),
        "consent": 1 if load_consent_settings() else 0,
        "masking": len(load_masking_policy().rules),
        "catalog": len(load_catalog()),
        "provider_types": len(load_provider_types()),
        "provider_levels": len(load_provider_levels()),
        "severities": len(load_severities()),
        "holidays": len(load_holidays()),
        "remedies": 1 if load_remedy_rules() else 0,
        "notice": 1 if load_notice_texts() else 0,
        "anomaly": 1 if load_anomaly_settings() else 0,
    }
