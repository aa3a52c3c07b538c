"""Generated, realistic-looking people: Chinese names, valid ID numbers, mobiles, addresses.

Nothing here is a real person; ID numbers are built from real region codes with
correct GB 11643 check digits so that validation treats them like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from policies import make_resident_id
from service.subjects.repository import SubjectData

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬辉斌鹏浩宇轩子涵欣怡梓晨雨嘉博文思佳俊一诺浩然若曦天佑雅琪志远海波建国丽娟晓东"
REGIONS = {
    "110105": "北京市朝阳区", "110108": "北京市海淀区", "310115": "上海市浦东新区",
    "310104": "上海市徐汇区", "440305": "广东省深圳市南山区", "440106": "广东省广州市天河区",
    "330106": "浙江省杭州市西湖区", "320102": "江苏省南京市玄武区", "510107": "四川省成都市武侯区",
    "420106": "湖北省武汉市武昌区", "430104": "湖南省长沙市岳麓区", "610113": "陕西省西安市雁塔区",
    "350102": "福建省福州市鼓楼区", "370202": "山东省青岛市市南区", "500103": "重庆市渝中区",
}
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路", "长江路", "黄河路", "科技路", "学府路"]
MOBILE_PREFIXES = ("135", "136", "138", "139", "150", "158", "177", "186", "188", "189", "199")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _bank_card(rng: random.Random) -> str:
    digits = [int(c) for c in "622202" + "".join(str(rng.randrange(10)) for _ in range(12))]
    # Luhn check digit so the number looks like a real card number to any validator.
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def generate_people(count: int, seed: int = 2026, today: date | None = None) -> Iterator[SubjectData]:
    """``count`` distinct people, deterministic for a given seed; about 5% are minors."""
    rng = random.Random(seed)
    today = today or date(2026, 11, 1)
    seen: set[str] = set()
    while len(seen) < count:
        region = rng.choice(list(REGIONS))
        minor = rng.random() < 0.05
        age_days = rng.randrange(365 * 2, 365 * 13) if minor else rng.randrange(365 * 18, 365 * 75)
        birth = today - timedelta(days=age_days)
        number = make_resident_id(region, birth, rng.randrange(100), rng.choice(("male", "female")))
        if number in seen:
            continue
        seen.add(number)
        yield SubjectData(
            id_number=number,
            name=_name(rng),
            mobile=rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
            address=f"{REGIONS[region]}{rng.choice(STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2800)}室",
            bank_card=_bank_card(rng) if rng.random() < 0.7 else None,
        )
