"""The demo's providers, institutions and people's accounts.

Every organisation is fictional (the names say 示范, "demo"). Their unified social
credit codes are deterministic and carry a valid GB 32100 check character, so
re-running the demo finds them by USCC instead of registering them again.
Government bodies (courts, departments) use registration authority code ``11``
(机关); companies use ``91`` (enterprise).
"""

from __future__ import annotations

from dataclasses import dataclass

from policies import make_uscc

#: The password of every demo account. Demo data only: never load it into a real deployment.
DEMO_PASSWORD = "creditgate-demo-password"  # noqa: S105 (documented demo credential)

_REGION = "110105"  # 北京市朝阳区


def _uscc(kind: str, n: int) -> str:
    # 2 (registration authority + type) + 6 (region) + 9 (organisation code) = 17, then the check character.
    return make_uscc(f"{kind}{_REGION}MA{n:07d}")


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """A record provider / deciding department."""

    key: str
    name: str
    provider_type: str
    abbreviation: str  # used in document numbers, e.g. 京朝市监罚〔2026〕12号
    uscc: str
    level: str = "county"  # administrative level; county or above may decide a serious listing


@dataclass(frozen=True, slots=True)
class DemoInstitution:
    """A querying institution and the purpose it usually asks consent for."""

    key: str
    name: str
    institution_type: str
    main_purpose: str
    reason: str
    uscc: str
    contact: str = "客服热线 010-6500 0000"  # shown to people before they grant (PIPL art. 23)


PROVIDERS: tuple[DemoProvider, ...] = (
    DemoProvider("court", "示范市朝阳区人民法院", "court", "京0105", _uscc("11", 1)),
    DemoProvider("market", "示范市朝阳区市场监督管理局", "market_regulation", "京朝市监", _uscc("11", 2)),
    DemoProvider("tax", "国家税务总局示范市朝阳区税务局", "tax", "京朝税", _uscc("11", 3)),
    DemoProvider("hr", "示范市朝阳区人力资源和社会保障局", "human_resources", "京朝人社", _uscc("11", 4)),
    DemoProvider("education", "示范市教育考试院", "education", "京教考", _uscc("11", 5), "prefectural"),
    DemoProvider("emergency", "示范市朝阳区应急管理局", "emergency_management", "京朝应急", _uscc("11", 6)),
    DemoProvider("fire", "示范市朝阳区消防救援支队", "fire_rescue", "京朝消", _uscc("11", 7)),
    DemoProvider("drug", "示范市药品监督管理局", "drug_administration", "京药监", _uscc("11", 8), "prefectural"),
    DemoProvider("housing", "示范市朝阳区住房和城乡建设委员会", "housing", "京朝建", _uscc("11", 9)),
    DemoProvider("civil", "示范市朝阳区民政局", "civil_affairs", "京朝民", _uscc("11", 10)),
    DemoProvider("city", "示范市朝阳区城市管理综合行政执法局", "general_administration", "京朝城管", _uscc("11", 11)),
)

INSTITUTIONS: tuple[DemoInstitution, ...] = (
    DemoInstitution("bank", "示范商业银行股份有限公司", "bank", "loan_approval", "个人住房贷款申请审批", _uscc("91", 1)),
    DemoInstitution("bank2", "示范农村商业银行股份有限公司", "bank", "credit_card_approval", "信用卡申请审批",
                    _uscc("91", 2)),
    DemoInstitution("consumer_finance", "示范消费金融有限公司", "consumer_finance", "loan_approval", "个人消费贷款审批",
                    _uscc("91", 3)),
    DemoInstitution("microloan", "示范小额贷款有限公司", "microloan", "loan_approval", "个体工商户经营贷款审批",
                    _uscc("91", 4)),
    DemoInstitution("employer", "示范科技有限公司", "employer", "employment_screening", "财务岗位入职审查",
                    _uscc("91", 5)),
    DemoInstitution("landlord", "示范住房租赁有限公司", "landlord", "rental_screening", "长租公寓租赁审查",
                    _uscc("91", 6)),
    DemoInstitution("government", "示范市朝阳区政务服务管理局", "government", "administrative_licensing",
                    "食品经营许可申请审查", _uscc("11", 12)),
)

OPERATOR_LOGIN = "operator"
AUDITOR_LOGIN = "auditor"
GUARDIAN_LOGIN = "demo.guardian"
#: How many demo subjects get a login (demo.subject1 ... demo.subjectN).
SUBJECT_LOGINS = 5


def subject_login(n: int) -> str:
    """The login of the n-th demo subject (1-based)."""
    return f"demo.subject{n}"
