"""The demo records ``seed-demo`` loads: users, enterprises, figures, contacts, supply links, assignments.

Everything here is a pure function of a fixed seed (``random.Random(SEED)``), so every run, on every machine,
builds the same records. The enterprises the plan names are real firms; their products, contacts and figures
are invented, and like every generated firm they are stored with ``is_demo`` set. Contact phone numbers are
fake (``0851-2xxxxxxx``).

Nothing here touches the database: :mod:`crm.demo.seed` applies these specs through the domain functions.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from stdnum.cn import uscc as stdnum_uscc

from crm.demo.reference import TARGETS

SEED = 20241203  # the plan's date of issue
DEFAULT_DEMO_PASSWORD = "Demo-2026-zunyi"
PASSWORD_ENV = "CRM_DEMO_PASSWORD"
FIGURE_YEARS = (2024, 2025)


def demo_password() -> str:
    """The one password of every demo user: ``CRM_DEMO_PASSWORD`` when set, else :data:`DEFAULT_DEMO_PASSWORD`."""
    return os.environ.get(PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD


# --- users ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    display_name: str
    county: str | None
    department: str | None
    specialties: tuple[str, ...] = ()
    phone: str = ""


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "admin", "系统管理员", None, "市大数据发展管理局", phone="0851-28000001"),
    DemoUser("coordinator", "coordinator", "王建华", None, "市工业和科学技术局", phone="0851-28000002"),
    DemoUser("coordinator_hc", "coordinator", "刘思雨", "汇川区", "汇川区人民政府", phone="0851-28000003"),
    DemoUser("commissioner_tech", "commissioner", "陈志强", None, "市工业和科学技术局", ("tech",),
             "0851-28000011"),
    DemoUser("commissioner_finance", "commissioner", "杨晓燕", None, "市财政局", ("finance",), "0851-28000012"),
    DemoUser("commissioner_legal", "commissioner", "赵文博", None, "市政务服务管理局", ("legal",), "0851-28000013"),
    DemoUser("commissioner_media", "commissioner", "周佳怡", None, "市投资促进局", ("media",), "0851-28000014"),
    DemoUser("commissioner_talent", "commissioner", "吴海涛", None, "市人力资源社会保障局", ("talent",),
             "0851-28000015"),
    DemoUser("leader", "leader", "李卫东", None, "市工业和科学技术局", phone="0851-28000020"),
    # More commissioners, so every listed enterprise can be covered within the assignment cap (a few gaps stay).
    DemoUser("commissioner_tech2", "commissioner", "孙立新", None, "市工业和科学技术局", ("tech",), "0851-28000021"),
    DemoUser("commissioner_tech3", "commissioner", "马晓东", "汇川区", "汇川区人民政府", ("tech",), "0851-28000022"),
    DemoUser("commissioner_finance2", "commissioner", "郑雪梅", None, "市财政局", ("finance",), "0851-28000023"),
    DemoUser("commissioner_finance3", "commissioner", "冯建国", None, "市财政局", ("finance",), "0851-28000024"),
    DemoUser("commissioner_legal2", "commissioner", "何静", None, "市政务服务管理局", ("legal",), "0851-28000025"),
    DemoUser("commissioner_legal3", "commissioner", "许志伟", None, "市政务服务管理局", ("legal",), "0851-28000026"),
    DemoUser("commissioner_media2", "commissioner", "韩冰", None, "市投资促进局", ("media",), "0851-28000027"),
    DemoUser("commissioner_media3", "commissioner", "曹磊", None, "市投资促进局", ("media",), "0851-28000028"),
    DemoUser("commissioner_talent2", "commissioner", "邓丽", None, "市人力资源社会保障局", ("talent",),
             "0851-28000029"),
    DemoUser("commissioner_talent3", "commissioner", "彭涛", None, "市人力资源社会保障局", ("talent",),
             "0851-28000030"),
    # 部门联络员: each sees and moves what is routed to their unit, and reports on the tasks that name it.
    DemoUser("liaison_zrzy", "liaison", "罗明", None, "市自然资源局", phone="0851-28000041"),
    DemoUser("liaison_gxj", "liaison", "黄婷", None, "市工业和科学技术局", phone="0851-28000042"),
    DemoUser("liaison_hc", "liaison", "田永刚", None, "汇川区人民政府", phone="0851-28000043"),
)
# The first commissioner of each specialty carries the hand-made assignments of ``_assignments``.
COMMISSIONER_BY_SPECIALTY: dict[str, str] = {}
for _user in DEMO_USERS:
    if _user.role == "commissioner":
        COMMISSIONER_BY_SPECIALTY.setdefault(_user.specialties[0], _user.username)


# --- enterprises ----------------------------------------------------------------------------------------------

CHANGAN = "重庆长安汽车股份有限公司"
GREATWALL = "长城汽车股份有限公司重庆分公司"
SERES = "赛力斯集团股份有限公司"
CD_BUS = "成都客车股份有限公司"
CAC = "成都飞机工业(集团)有限责任公司"
CAC_CIVIL = "中航成飞民用飞机有限责任公司"
AECC_CD = "中国航发成都发动机有限公司"
SWA = "西南铝业(集团)有限责任公司"
HUAFON_AL = "华峰铝业有限公司"
HUAFON_CHEM = "重庆华峰化工有限公司"
WANKAI = "重庆万凯新材料科技有限公司"
CPIC = "重庆国际复合材料股份有限公司"


@dataclass(frozen=True)
class NamedEnterprise:
    """A firm the plan names: county and cluster chosen from the plan's text."""

    name: str
    county: str
    cluster: str
    supply_category: str | None
    main_products: str
    park: str | None = None
    partners: tuple[tuple[str, str], ...] = ()
    weight: float = 3.0  # share of its county's 产值 relative to an ordinary firm (≈1–3)


NAMED_ENTERPRISES: tuple[NamedEnterprise, ...] = (
    # 重点任务 1: 桐梓(重庆)工业园, the products "在重庆市场的深度开发".
    NamedEnterprise("遵义双盛电气系统有限公司", "桐梓县", "汽车及电池材料", "关键零部件",
                    "汽车及摩托车线束、电气连接系统", "桐梓(重庆)工业园", ((CHANGAN, "低压线束总成"),), 4),
    NamedEnterprise("贵州榆琳科技有限公司", "桐梓县", "电子信息", "关键零部件",
                    "电子元器件、精密五金结构件", "桐梓(重庆)工业园", ((GREATWALL, "车载电子结构件"),), 3),
    NamedEnterprise("贵州彩阳电暖科技有限公司", "桐梓县", "电子信息", "关键零部件",
                    "电暖器、电热元件及温控组件", "桐梓(重庆)工业园", (), 2),
    NamedEnterprise("遵义森永科工有限公司", "桐梓县", "装备制造", "关键零部件",
                    "摩托车及通用机械零部件、精密铸件", "桐梓(重庆)工业园", ((CHANGAN, "发动机精密铸件"),), 3),
    # 重点任务 2: 红花岗区 — 飞行制造配套 with 成飞; 汽车、摩托车 with 成渝.
    NamedEnterprise("贵州航锐航空精密零部件制造有限公司", "红花岗区", "航空航天装备", "关键零部件",
                    "航空精密零部件、结构件数控加工及钣金件", "遵义经济技术开发区",
                    ((CAC, "飞机结构件精密机加"), (CAC_CIVIL, "民机钣金零件")), 5),
    NamedEnterprise("贵州精立航太科技有限公司", "红花岗区", "航空航天装备", "关键零部件",
                    "航空航天紧固件、精密零部件", "遵义经济技术开发区", ((CAC, "航空紧固件"),), 4),
    NamedEnterprise("遵义市飞宇电子有限公司", "红花岗区", "电子信息", "关键零部件",
                    "军用电子元器件、电连接器及继电器", None, ((CAC, "机载电子元器件"),), 3),
    NamedEnterprise("遵义市大地和电气有限公司", "红花岗区", "汽车及电池材料", "关键零部件",
                    "新能源汽车驱动电机及电机控制器", "遵义经济技术开发区",
                    ((CHANGAN, "驱动电机总成"), (SERES, "电机控制器")), 4),
    NamedEnterprise("贵州蓝辉新材料有限公司", "红花岗区", "汽车及电池材料", "关键材料",
                    "汽车、摩托车用金属材料及表面处理", None, ((CHANGAN, "汽车用金属材料"),), 3),
    # 重点任务 5: 汽车电池材料产业集群.
    NamedEnterprise("贵州新蓝辉金属制品有限公司", "红花岗区", "汽车及电池材料", "关键零部件",
                    "汽车冲压件、金属结构件", None, ((CHANGAN, "车身冲压件"),), 3),
    NamedEnterprise("遵义长征汽车零部件有限公司", "汇川区", "汽车及电池材料", "关键零部件",
                    "汽车电器开关、传感器及精密零部件", None,
                    ((CHANGAN, "汽车电器开关"), (SERES, "传感器")), 4),
    NamedEnterprise("贵州容百锂电材料有限公司", "汇川区", "汽车及电池材料", "关键材料",
                    "高镍三元正极材料、前驱体、钠电正极材料", "遵义国家高新技术产业开发区",
                    ((SERES, "动力电池正极材料(经电池企业配套)"),), 15),
    NamedEnterprise("贵州梅岭电源有限公司", "汇川区", "汽车及电池材料", "关键零部件",
                    "特种化学电源、锂离子电池及电池组", "遵义国家高新技术产业开发区",
                    ((CAC, "机载特种电源"),), 8),
    NamedEnterprise("遵义天磁锰业集团有限公司", "汇川区", "汽车及电池材料", "关键材料",
                    "电解二氧化锰、电池级硫酸锰、锰酸锂", "遵义国家高新技术产业开发区", (), 6),
    NamedEnterprise("遵义正合铝业有限公司", "播州区", "基础材料", "关键材料",
                    "铝合金型材、汽车用铝合金零部件", "播州铝及铝加工产业园",
                    ((CHANGAN, "汽车用铝合金结构件"), (SWA, "铝合金坯料")), 5),
    # 重点任务 9: 遵钛集团.
    NamedEnterprise("遵义钛业股份有限公司", "播州区", "基础材料", "关键材料",
                    "海绵钛、钛锭、钛板坯及棒坯", None, ((AECC_CD, "航空级钛材"),), 8),
    # 重点任务 8: 遵义华明电力 有载分接开关 base.
    NamedEnterprise("遵义华明电力设备有限公司", "新蒲新区", "装备制造", "关键设备",
                    "变压器有载分接开关、智能化输变电装备", None, (), 6),
)
PLAN_NAMED = tuple(e.name for e in NAMED_ENTERPRISES)


@dataclass(frozen=True)
class CountyProfile:
    code: str  # 行政区划代码, positions 3–8 of a 统一社会信用代码
    total: int  # demo enterprises in the county, the plan's named firms included
    mix: tuple[tuple[str, int], ...]  # clusters and their weights
    prefixes: tuple[str, ...]
    park: str | None = None


COUNTY_PROFILES: dict[str, CountyProfile] = {
    "红花岗区": CountyProfile("520302", 16, (("航空航天装备", 3), ("汽车及电池材料", 3), ("电子信息", 2),
                                          ("装备制造", 2)), ("遵义", "贵州", "遵义市红花岗区"), "遵义经济技术开发区"),
    "汇川区": CountyProfile("520303", 50, (("汽车及电池材料", 5), ("航空航天装备", 3), ("装备制造", 3),
                                        ("电子信息", 2), ("基础材料", 1), ("其他", 1)),
                         ("遵义", "贵州", "遵义市汇川区"), "遵义国家高新技术产业开发区"),
    "播州区": CountyProfile("520304", 20, (("基础材料", 6), ("装备制造", 2), ("汽车及电池材料", 1),
                                        ("现代化工", 1)), ("遵义", "贵州", "遵义市播州区"), "播州铝及铝加工产业园"),
    "新蒲新区": CountyProfile("520300", 14, (("电子信息", 4), ("航空航天装备", 3), ("装备制造", 2)),
                          ("遵义", "贵州", "遵义新蒲"), "遵义综合保税区"),
    "桐梓县": CountyProfile("520322", 15, (("汽车及电池材料", 4), ("电子信息", 2), ("现代化工", 2),
                                        ("装备制造", 2), ("基础材料", 1)), ("遵义", "贵州", "桐梓县"),
                         "桐梓(重庆)工业园"),
    "绥阳县": CountyProfile("520323", 5, (("装备制造", 2), ("基础材料", 2), ("其他", 1)), ("遵义", "贵州", "绥阳县")),
    "正安县": CountyProfile("520324", 8, (("其他", 2), ("基础材料", 2), ("现代化工", 2), ("电子信息", 1)),
                         ("遵义", "贵州", "正安县")),
    "道真自治县": CountyProfile("520325", 6, (("基础材料", 3), ("现代化工", 1)), ("遵义", "贵州", "贵州道真"),
                           "道真铝土矿资源综合利用园"),
    "务川自治县": CountyProfile("520326", 5, (("现代化工", 3), ("基础材料", 1)), ("遵义", "贵州", "贵州务川"),
                           "务川氟钡化工产业园"),
    "凤冈县": CountyProfile("520327", 3, (("其他", 1), ("基础材料", 1), ("装备制造", 1)), ("遵义", "贵州", "凤冈县")),
    "湄潭县": CountyProfile("520328", 4, (("其他", 1), ("电子信息", 1), ("装备制造", 1)), ("遵义", "贵州", "湄潭县")),
    "余庆县": CountyProfile("520329", 3, (("基础材料", 1), ("装备制造", 1), ("现代化工", 1)),
                         ("遵义", "贵州", "余庆县")),
    "习水县": CountyProfile("520330", 5, (("基础材料", 2), ("现代化工", 1), ("其他", 1)), ("遵义", "贵州", "习水县")),
    "赤水市": CountyProfile("520381", 3, (("现代化工", 2), ("其他", 1)), ("遵义", "贵州", "赤水市")),
    "仁怀市": CountyProfile("520382", 5, (("其他", 3), ("现代化工", 1), ("基础材料", 1)), ("遵义", "贵州", "仁怀市")),
}


@dataclass(frozen=True)
class Template:
    """A line of business: a word for the firm's name, its products and whom in 成渝 it may supply."""

    word: str
    products: str
    category: str | None
    partners: tuple[str, ...] = ()
    supplies: str = ""
    only: tuple[str, ...] = ()  # counties where this line of business is found (empty: anywhere)


TEMPLATES: dict[str, tuple[Template, ...]] = {
    "汽车及电池材料": (
        Template("汽车零部件", "汽车底盘冲压件、焊接总成", "关键零部件", (CHANGAN, SERES, GREATWALL), "底盘冲压焊接件"),
        Template("汽车配件", "汽车制动盘、制动鼓及轮毂铸件", "关键零部件", (CHANGAN, CD_BUS), "制动系统铸件"),
        Template("精密机械", "汽车发动机缸体、缸盖精密机加工件", "关键零部件", (CHANGAN, GREATWALL), "发动机机加件"),
        Template("汽车电器", "汽车线束、连接器及电子控制模块", "关键零部件", (SERES, CHANGAN), "车载线束及连接器"),
        Template("汽车内饰", "汽车座椅骨架、内饰注塑件", "关键零部件", (CHANGAN, SERES), "座椅骨架及内饰件"),
        Template("新能源科技", "动力电池包壳体、储能电池模组结构件", "关键零部件", (SERES,), "电池包壳体"),
        Template("摩托车配件", "摩托车发动机零部件、离合器总成", "关键零部件", only=("桐梓县", "红花岗区", "汇川区")),
        Template("新能源材料", "磷酸锰铁锂正极材料、三元前驱体", "关键材料", (SERES,), "正极材料",
                 only=("汇川区", "播州区")),
        Template("锂电科技", "锂离子电池电解液、六氟磷酸锂", "关键材料", (SERES,), "电解液", only=("汇川区",)),
        Template("电池材料", "锂电池负极材料、人造石墨", "关键材料", (SERES,), "负极材料", only=("汇川区", "播州区")),
    ),
    "航空航天装备": (
        Template("航空科技", "航空结构件数控加工、钣金成形", "关键零部件", (CAC, CAC_CIVIL), "飞机结构件机加"),
        Template("紧固件", "航空航天高强度紧固件、螺栓螺母", "关键零部件", (CAC, AECC_CD), "航空紧固件"),
        Template("精密制造", "航空发动机叶片、机匣精密零件", "关键零部件", (AECC_CD,), "发动机零件"),
        Template("航天电器", "航天电连接器、微特电机", "关键零部件", (CAC,), "机载电连接器"),
        Template("特种材料", "高温合金锻件、钛合金棒材", "关键材料", (AECC_CD, CAC), "高温合金锻件"),
        Template("液压科技", "航空液压元件、作动器零部件", "关键零部件", (CAC, CAC_CIVIL), "液压元件"),
    ),
    "电子信息": (
        Template("电子科技", "片式电容器、电阻器等电子元器件", "关键零部件", (SERES, CHANGAN), "车规级电子元器件"),
        Template("光电科技", "摄像头模组、光学镜片", "关键零部件", (SERES,), "车载摄像头模组"),
        Template("精密电子", "笔记本电脑精密结构件、金属外壳", "关键零部件"),
        Template("智能科技", "煤矿工业控制系统、安全监测预警设备", "关键设备"),
        Template("显示科技", "液晶显示模组、触控面板", "关键零部件", (CHANGAN,), "车载显示屏"),
        Template("电路科技", "印制电路板(PCB)及组件", "关键零部件", (GREATWALL, SERES), "PCB组件"),
    ),
    "装备制造": (
        Template("电气", "中低压开关柜、箱式变电站", "关键设备"),
        Template("重工", "大型铸锻件、齿轮箱", "关键零部件", (CD_BUS,), "车桥锻件"),
        Template("机械制造", "路桥施工装备、工程机械结构件", "关键设备"),
        Template("仪器仪表", "智能电表、压力变送器等仪器仪表", "关键设备"),
        Template("应急装备", "矿山应急救援装备、消防机械", "关键设备"),
        Template("液力传动", "液力变速器、传动零部件", "关键零部件", (CD_BUS,), "液力变速器"),
        Template("精密铸造", "球墨铸铁件、精密铸件", "关键零部件", (GREATWALL, CD_BUS), "铸件"),
    ),
    "基础材料": (
        Template("铝业", "铝合金型材、铝板带", "关键材料", (SWA, HUAFON_AL), "铝坯料及铝板带",
                 only=("播州区", "道真自治县", "务川自治县", "正安县", "汇川区", "绥阳县")),
        Template("铝箔", "锂电池用铝箔、电子铝箔", "关键材料", (HUAFON_AL, SERES), "电池铝箔",
                 only=("播州区", "汇川区", "桐梓县")),
        Template("锰业", "电解锰、高硅锰合金", "关键材料", only=("播州区", "汇川区", "余庆县", "绥阳县")),
        Template("锰材料", "电池级硫酸锰、四氧化三锰", "关键材料", only=("播州区", "汇川区")),
        Template("钛材", "钛板坯、钛棒及钛加工材", "关键材料", (AECC_CD, CAC), "钛材", only=("播州区", "汇川区")),
        Template("矿业", "铝土矿开采、氧化铝", "关键材料", (SWA,), "氧化铝",
                 only=("道真自治县", "务川自治县", "正安县", "习水县", "凤冈县")),
        Template("再生资源", "废铝回收、再生铝锭", "关键材料", (HUAFON_AL, SWA), "再生铝锭",
                 only=("播州区", "正安县", "道真自治县", "务川自治县", "习水县", "余庆县")),
        Template("新材料", "萤石粉、重晶石粉等玻纤用矿物原料", "关键材料", (CPIC,), "玻纤用矿物原料",
                 only=("务川自治县", "道真自治县", "正安县", "桐梓县", "凤冈县")),
        Template("硅业", "工业硅、硅锰合金", "关键材料", only=("习水县", "桐梓县", "绥阳县", "仁怀市")),
    ),
    "现代化工": (
        Template("化工", "合成氨、尿素及高效复合肥", "关键材料", only=("桐梓县", "赤水市", "习水县", "播州区")),
        Template("氟化工", "无水氢氟酸、氟化盐", "关键材料", (HUAFON_CHEM,), "无水氟化氢", only=("务川自治县",)),
        Template("氟材料", "聚偏氟乙烯(PVDF)、聚四氟乙烯", "关键材料", (HUAFON_CHEM, WANKAI), "含氟聚合物",
                 only=("务川自治县", "桐梓县")),
        Template("钡盐", "碳酸钡、硫酸钡等钡盐产品", "关键材料", (CPIC,), "钡盐", only=("务川自治县", "正安县")),
        Template("能源", "页岩气开发利用、液化天然气", "关键材料", (WANKAI,), "天然气原料",
                 only=("正安县", "道真自治县", "务川自治县")),
        Template("精细化工", "电子级化学品、电池电解液添加剂", "关键材料", (WANKAI,), "化工原料",
                 only=("播州区", "余庆县", "赤水市", "仁怀市")),
    ),
    "其他": (
        Template("包装", "酒类包装盒、瓦楞纸箱", None, only=("仁怀市", "习水县", "汇川区")),
        Template("玻璃制品", "玻璃瓶及玻璃制品", None, only=("仁怀市", "习水县")),
        Template("乐器", "电声吉他及乐器配件", None, only=("正安县",)),
        Template("竹业", "竹浆、竹材加工制品", None, only=("赤水市",)),
        Template("茶机", "茶叶加工机械及设备", "关键设备", only=("湄潭县", "凤冈县")),
        Template("塑胶", "工程塑料、汽车注塑件", "关键零部件", (CHANGAN,), "塑料件",
                 only=("汇川区", "绥阳县", "仁怀市", "湄潭县", "凤冈县")),
    ),
}

BRANDS = (
    "恒通", "鑫达", "瑞丰", "宏源", "华鑫", "永固", "金鼎", "盛达", "博远", "天宇", "正兴", "中顺", "嘉诚", "黔峰",
    "娄山", "乌江", "凤翔", "黔北", "红岩", "新锐", "鸿运", "泰和", "立新", "众联", "兴黔", "长盛", "华宇", "聚力",
    "锦程", "宏达", "振华", "明辉", "德润", "安泰", "金桥", "云岭", "汇鑫", "腾飞", "福源", "海川", "晟泰", "百川",
    "东升", "科达", "尚品", "信诚", "弘毅", "鼎盛", "宇航", "卓远",
)
# Firms that moved in from Chongqing and Sichuan often keep the mark of home in their names.
CHENGYU_BRANDS = ("渝遵", "川黔", "蓉遵", "渝丰", "巴渝", "蜀达", "渝黔", "蓉达", "川渝", "渝鑫", "蜀遵", "成渝")
FORMS = (("有限公司", 16), ("有限责任公司", 3), ("股份有限公司", 1))
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜"
    "戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟", "芳", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "辉",
    "建国", "建华", "志强", "海燕", "晓东", "春梅", "国庆", "红梅", "永刚", "德明", "文斌", "丽萍", "小龙", "学文",
    "光明", "世杰", "玉兰", "正华", "兴旺", "继红", "思源", "俊峰", "雪梅", "家豪", "婷婷", "鹏飞", "晓琳",
)
FIRST_POSTS = ("总经理", "董事长", "副总经理", "常务副总经理")
SECOND_POSTS = ("办公室主任", "综合部部长", "销售部经理", "财务总监", "行政主管", "市场部经理", "生产部经理")
# Firms from 成渝 that settled in Zunyi (重点任务 18: 10 by 2025, 50 by 2027).
SETTLED_DATES = (
    date(2022, 9, 16), date(2023, 3, 28), date(2023, 11, 8), date(2024, 4, 19), date(2024, 8, 6), date(2024, 12, 20),
    date(2025, 3, 14), date(2025, 6, 27), date(2025, 10, 22), date(2026, 1, 9), date(2026, 3, 18),
)
SETTLED_COUNTIES = ("汇川区", "汇川区", "汇川区", "桐梓县", "桐梓县", "新蒲新区", "新蒲新区", "播州区", "播州区",
                    "红花岗区", "正安县")
ASSIGNMENT_STARTS = (date(2025, 3, 3), date(2025, 7, 1), date(2025, 9, 15), date(2026, 1, 5))
ASSIGNMENTS_PER_COMMISSIONER = 12


@dataclass
class EnterpriseSpec:
    name: str
    uscc: str
    county: str
    cluster: str
    supply_category: str | None
    main_products: str
    park: str | None
    above_scale: bool
    settled_on: date | None = None
    partners: list[tuple[str, str]] = field(default_factory=list)
    contacts: list[tuple[str, str, str]] = field(default_factory=list)  # name, post, phone
    figures: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)  # year → (产值, 成渝配套产值) 万元
    named: bool = False
    weight: float = 1.0

    def enterprise_data(self) -> dict:
        """Input for :func:`crm.enterprises.domain.create_enterprise`."""
        return {
            "name": self.name, "uscc": self.uscc, "county": self.county, "cluster": self.cluster,
            "supply_category": self.supply_category, "park": self.park, "above_scale": self.above_scale,
            "main_products": self.main_products, "settled_from_chengyu": self.settled_on is not None,
            "settled_on": self.settled_on,
        }


@dataclass(frozen=True)
class AssignmentSpec:
    uscc: str
    specialty: str
    username: str
    started_on: date


@dataclass
class DemoData:
    enterprises: list[EnterpriseSpec]
    assignments: list[AssignmentSpec]


# --- generation -----------------------------------------------------------------------------------------------

ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # a USCC's alphabet: no I, O, S, V, Z
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code(rng: random.Random) -> str:
    """A 9-character 组织机构代码 (GB 11714 check character): new style ``MA…`` or older all digits."""
    if rng.random() < 0.7:
        body = "MA6" + "".join(rng.choice(ORG_ALPHABET[:10] + "ACDEFGHJKLMNPQRTUWXY") for _ in range(5))
    else:
        body = str(rng.randint(5, 7)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random, region_code: str) -> str:
    """A valid 统一社会信用代码 of a company (``91``) registered in ``region_code``."""
    body = "91" + region_code + org_code(rng)
    return body + stdnum_uscc.calc_check_digit(body)


def _weighted(rng: random.Random, pairs) -> str:
    items, weights = zip(*pairs, strict=True)
    return rng.choices(items, weights=weights)[0]


def _templates_for(cluster: str, county: str) -> list[Template]:
    fitting = [t for t in TEMPLATES[cluster] if not t.only or county in t.only]
    return fitting or [t for t in TEMPLATES[cluster] if not t.only]


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random) -> str:
    return f"0851-2{rng.randint(0, 9_999_999):07d}"


def _wan(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP).quantize(Decimal("0.01"))


def build_demo_data(seed: int = SEED) -> DemoData:
    """Every demo enterprise and assignment, the same on every run."""
    rng = random.Random(seed)
    specs: list[EnterpriseSpec] = []
    names: set[str] = set()
    usccs: set[str] = set()
    brands_used: set[tuple[str, str]] = set()

    def new_uscc(county: str) -> str:
        while True:
            code = make_uscc(rng, COUNTY_PROFILES[county].code)
            if code not in usccs:
                usccs.add(code)
                return code

    for named in NAMED_ENTERPRISES:
        names.add(named.name)
        specs.append(EnterpriseSpec(
            name=named.name, uscc=new_uscc(named.county), county=named.county, cluster=named.cluster,
            supply_category=named.supply_category, main_products=named.main_products, park=named.park,
            above_scale=True, partners=list(named.partners), named=True, weight=named.weight))

    settled_slots = list(zip(SETTLED_COUNTIES, SETTLED_DATES, strict=True))
    for county, profile in COUNTY_PROFILES.items():
        already = sum(1 for s in specs if s.county == county)
        for _ in range(profile.total - already):
            cluster = _weighted(rng, profile.mix)
            template = rng.choice(_templates_for(cluster, county))
            settled_on = None
            slot = next((s for s in settled_slots if s[0] == county), None)
            if slot is not None and rng.random() < 0.4:
                settled_slots.remove(slot)
                settled_on = slot[1]
            brands = CHENGYU_BRANDS if settled_on else BRANDS
            for attempt in range(100):
                prefix = rng.choice(("遵义", "贵州")) if settled_on else rng.choice(profile.prefixes)
                brand = rng.choice(brands)
                name = prefix + brand + template.word + _weighted(rng, FORMS)
                # One brand per county where possible: firms of one county rarely share a 字号.
                if name not in names and ((county, brand) not in brands_used or attempt > 50):
                    names.add(name)
                    brands_used.add((county, brand))
                    break
            park = profile.park if profile.park and rng.random() < 0.5 else None
            partners: list[tuple[str, str]] = []
            if template.partners and rng.random() < 0.7:
                k = 1 if len(template.partners) == 1 or rng.random() < 0.75 else 2
                partners = [(p, template.supplies) for p in rng.sample(template.partners, k)]
            specs.append(EnterpriseSpec(
                name=name, uscc=new_uscc(county), county=county, cluster=cluster,
                supply_category=template.category, main_products=template.products, park=park,
                above_scale=settled_on is not None or rng.random() < 0.82, settled_on=settled_on,
                partners=partners, weight=rng.uniform(0.5, 3.0)))
    # Any slot left over (a county's dice said no every time) goes to that county's last generated firm.
    for county, settled_on in settled_slots:
        spec = next(s for s in reversed(specs) if s.county == county and not s.named and s.settled_on is None)
        spec.settled_on = settled_on
        spec.above_scale = True

    _add_contacts(rng, specs)
    _add_figures(rng, specs)
    return DemoData(enterprises=specs, assignments=_assignments(rng, specs))


def _add_contacts(rng: random.Random, specs: list[EnterpriseSpec]) -> None:
    for spec in specs:
        spec.contacts.append((_person(rng), rng.choice(FIRST_POSTS), _phone(rng)))
        if spec.named or rng.random() < 0.6:
            spec.contacts.append((_person(rng), rng.choice(SECOND_POSTS), _phone(rng)))


def _add_figures(rng: random.Random, specs: list[EnterpriseSpec]) -> None:
    """产值 (万元): counties with a target share about 80–110 % of their 2025 target; others by firm size."""
    for county in COUNTY_PROFILES:
        firms = [s for s in specs if s.county == county]
        large = [s for s in firms if s.above_scale]
        target = TARGETS.get(county)
        # 亿元 → 万元 for a county with a target; else by firm size.
        pot = (target[1] * 10_000 * rng.uniform(0.8, 1.1) if target
               else sum(rng.uniform(3_000, 15_000) for _ in large))
        total_weight = sum(s.weight for s in large) or 1.0
        for spec in firms:
            # 规上: 主营业务收入 ≥ 2000万元.
            output_2025 = (max(2_100.0, pot * spec.weight / total_weight) if spec.above_scale
                           else rng.uniform(350, 1_900))
            linked = bool(spec.partners) or spec.settled_on is not None
            share_2025 = rng.uniform(0.25, 0.7) if linked else rng.uniform(0.0, 0.2)
            growth = rng.uniform(-0.05, 0.3)
            output_2024 = output_2025 / (1 + growth)
            share_2024 = share_2025 * rng.uniform(0.75, 1.0)
            spec.figures = {
                2024: (_wan(output_2024), _wan(output_2024 * share_2024)),
                2025: (_wan(output_2025), _wan(output_2025 * share_2025)),
            }
            # A firm from 成渝 has figures only from the year it settled in Zunyi.
            arrived = spec.settled_on.year if spec.settled_on else 0
            spec.figures = {year: pair for year, pair in spec.figures.items() if year >= arrived}


def _assignments(rng: random.Random, specs: list[EnterpriseSpec]) -> list[AssignmentSpec]:
    """Each demo commissioner serves a dozen enterprises, the plan's named firms first."""
    named = [s for s in specs if s.named]
    others = [s for s in specs if not s.named and s.above_scale]
    rows: list[AssignmentSpec] = []
    for specialty, username in COMMISSIONER_BY_SPECIALTY.items():
        chosen = rng.sample(named, 5) + rng.sample(others, ASSIGNMENTS_PER_COMMISSIONER - 5)
        for spec in chosen:
            rows.append(AssignmentSpec(spec.uscc, specialty, username, rng.choice(ASSIGNMENT_STARTS)))
    return rows
