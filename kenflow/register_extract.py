"""Build kenflow/data/register.json from the MIC briefing (seed text, as of 2019-11-01).

Run: ``python -m kenflow.register_extract SEED.txt [OUT.json]``.

The seed is a PDF turned into text, so the layout is damaged. The parse therefore reads what
the text keeps reliably and states every judgement it makes, so a reviewer can check each one
against the source:

- The table of central cities (宣言中心市 | 中心市要件を満たす市) keeps one row per prefecture.
  Shaded cells (網掛け = 宣言連携中枢都市) were lifted out of the rows and printed after the
  table; the rows show an empty list item where they were. We put them back
  (SHADED_CELLS) and check that each one is a declared metropolitan central city.
- Five rows print a single list (富山, 石川, 福井, 京都, 和歌山). It is the right-hand column:
  its （ ）marks belong to that column's legend, none of these cities is on the map of
  declared cities, and only this reading reaches the table's own totals, 138 and 69.
- The map keeps a mark (★ vision, ◆ agreement only, ● declaration only, ※ 多自然居住拠点都市,
  （ ）moved to the metropolitan programme) only where it touches the name (★彦根市, 上田市★).
  Loose marks are not attributed: a wrong flag is worse than an unknown one.
- The KPI examples sit in two-column slides; which zone each value belongs to is given in
  EXAMPLES (by content, e.g. the panel naming 能代市農業技術センター), and every printed string
  there must occur in the source or the build fails.
- The source prints no municipality codes; CITY_CODES holds the JIS X 0402 codes (5 digits;
  the check digit is computed), each checked against the code's prefecture.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from models.codes import PREFECTURES, normalize_municipality_code

DEFAULT_OUT = Path(__file__).parent / "data" / "register.json"
SOURCE = "総務省 定住自立圏・連携中枢都市圏の説明資料, 令和元年11月1日時点 (seed 000_85c2a442a9676b06.txt)"
AS_OF = date(2019, 11, 1)
METRO_FORMED_AS_OF = date(2019, 4, 1)
KPI_SURVEY_DATE = date(2019, 2, 28)  # 平成31年２月末
PREF_BY_NAME = {name: code for code, name in PREFECTURES.items()}
DASHES = {"―", "—", "-", "ー"}


class ExtractError(RuntimeError):
    """The seed does not read the way this parser expects; the message says where."""


# --- facts the source needs help with -------------------------------------------------

# Rows of the table whose shaded cells were displaced; in the row's order of empty items.
SHADED_CELLS: dict[str, list[str]] = {
    "青森県": ["八戸市"],
    "山形県": ["山形市"],
    "鳥取県": ["鳥取市"],
    "山口県": ["下関市", "山口市"],
    "香川県": ["高松市"],
    "高知県": ["高知市"],
    "福岡県": ["久留米市"],
    "長崎県": ["長崎市"],
}

# The 35 metropolitan central cities are listed without prefectures.
METRO_PREFECTURES: dict[str, str] = {
    "札幌市": "北海道", "八戸市": "青森県", "盛岡市": "岩手県", "山形市": "山形県",
    "郡山市": "福島県", "新潟市": "新潟県", "富山市": "富山県", "高岡市": "富山県",
    "射水市": "富山県", "金沢市": "石川県", "福井市": "福井県", "長野市": "長野県",
    "岐阜市": "岐阜県", "静岡市": "静岡県", "姫路市": "兵庫県", "鳥取市": "鳥取県",
    "岡山市": "岡山県", "倉敷市": "岡山県", "広島市": "広島県", "呉市": "広島県",
    "福山市": "広島県", "山口市": "山口県", "宇部市": "山口県", "下関市": "山口県",
    "高松市": "香川県", "松山市": "愛媛県", "高知市": "高知県", "北九州市": "福岡県",
    "久留米市": "福岡県", "長崎市": "長崎県", "佐世保市": "長崎県", "熊本市": "熊本県",
    "大分市": "大分県", "宮崎市": "宮崎県", "鹿児島市": "鹿児島県",
}  # fmt: skip

# JIS X 0402 codes without the check digit, keyed by prefecture code then city name.
CITY_CODES: dict[str, dict[str, str]] = {
    "01": {"札幌市": "01100", "函館市": "01202", "小樽市": "01203", "旭川市": "01204",
           "室蘭市": "01205", "釧路市": "01206", "帯広市": "01207", "北見市": "01208",
           "網走市": "01211", "苫小牧市": "01213", "稚内市": "01214", "士別市": "01220",
           "名寄市": "01221", "滝川市": "01225", "砂川市": "01226", "深川市": "01228",
           "富良野市": "01229"},
    "02": {"弘前市": "02202", "八戸市": "02203", "五所川原市": "02205", "十和田市": "02206",
           "三沢市": "02207", "むつ市": "02208"},
    "03": {"盛岡市": "03201", "宮古市": "03202", "大船渡市": "03203", "北上市": "03206",
           "一関市": "03209", "釜石市": "03211", "奥州市": "03215"},
    "04": {"石巻市": "04202", "気仙沼市": "04205", "白石市": "04206", "大崎市": "04215"},
    "05": {"能代市": "05202", "横手市": "05203", "大館市": "05204", "湯沢市": "05207",
           "由利本荘市": "05210", "大仙市": "05212"},
    "06": {"山形市": "06201", "米沢市": "06202", "鶴岡市": "06203", "酒田市": "06204",
           "新庄市": "06205", "東根市": "06211"},
    "07": {"会津若松市": "07202", "郡山市": "07203", "白河市": "07205", "喜多方市": "07208",
           "二本松市": "07210", "南相馬市": "07212"},
    "08": {"水戸市": "08201", "日立市": "08202", "土浦市": "08203", "常総市": "08211",
           "つくば市": "08220", "鹿嶋市": "08222", "筑西市": "08227", "神栖市": "08232"},
    "09": {"栃木市": "09203", "佐野市": "09204", "日光市": "09206", "小山市": "09208",
           "真岡市": "09209", "大田原市": "09210", "那須塩原市": "09213"},
    "10": {"伊勢崎市": "10204", "太田市": "10205", "沼田市": "10206", "藤岡市": "10209",
           "富岡市": "10210"},
    "11": {"秩父市": "11207", "本庄市": "11211"},
    "12": {"館山市": "12205", "旭市": "12215"},
    "15": {"新潟市": "15100", "長岡市": "15202", "柏崎市": "15205", "新発田市": "15206",
           "十日町市": "15210", "村上市": "15212", "燕市": "15213", "糸魚川市": "15216",
           "上越市": "15222", "佐渡市": "15224", "南魚沼市": "15226"},
    "16": {"富山市": "16201", "高岡市": "16202", "黒部市": "16207", "射水市": "16211"},
    "17": {"金沢市": "17201", "七尾市": "17202", "小松市": "17203"},
    "18": {"福井市": "18201", "敦賀市": "18202", "小浜市": "18204"},
    "19": {"富士吉田市": "19202", "北杜市": "19209"},
    "20": {"長野市": "20201", "松本市": "20202", "上田市": "20203", "飯田市": "20205",
           "諏訪市": "20206", "伊那市": "20209", "中野市": "20211", "飯山市": "20213",
           "佐久市": "20217"},
    "21": {"岐阜市": "21201", "大垣市": "21202", "高山市": "21203", "関市": "21205",
           "美濃加茂市": "21211", "可児市": "21214"},
    "22": {"静岡市": "22100", "沼津市": "22203", "磐田市": "22211", "掛川市": "22213",
           "御殿場市": "22215", "裾野市": "22220", "湖西市": "22221"},
    "23": {"刈谷市": "23210", "安城市": "23212", "西尾市": "23213", "新城市": "23221",
           "田原市": "23231"},
    "24": {"津市": "24201", "四日市市": "24202", "伊勢市": "24203", "松阪市": "24204",
           "亀山市": "24210", "いなべ市": "24214", "伊賀市": "24216"},
    "25": {"彦根市": "25202", "長浜市": "25203", "草津市": "25206", "東近江市": "25213"},
    "26": {"福知山市": "26201", "舞鶴市": "26202"},
    "28": {"姫路市": "28201", "洲本市": "28205", "豊岡市": "28209", "西脇市": "28213",
           "小野市": "28218", "加西市": "28220", "加東市": "28228", "たつの市": "28229"},
    "29": {"天理市": "29204"},
    "30": {"田辺市": "30206", "新宮市": "30207"},
    "31": {"鳥取市": "31201", "米子市": "31202", "倉吉市": "31203"},
    "32": {"松江市": "32201", "浜田市": "32202", "出雲市": "32203", "益田市": "32204"},
    "33": {"岡山市": "33100", "倉敷市": "33202", "津山市": "33203", "備前市": "33211"},
    "34": {"広島市": "34100", "呉市": "34202", "三原市": "34204", "福山市": "34207",
           "三次市": "34209", "庄原市": "34210"},
    "35": {"下関市": "35201", "宇部市": "35202", "山口市": "35203", "萩市": "35204",
           "下松市": "35207", "長門市": "35211", "周南市": "35215"},
    "36": {"徳島市": "36201", "阿南市": "36204"},
    "37": {"高松市": "37201", "丸亀市": "37202", "坂出市": "37203", "観音寺市": "37205"},
    "38": {"松山市": "38201", "今治市": "38202", "宇和島市": "38203", "八幡浜市": "38204",
           "新居浜市": "38205", "大洲市": "38207", "四国中央市": "38213"},
    "39": {"高知市": "39201", "宿毛市": "39208", "四万十市": "39210"},
    "40": {"北九州市": "40100", "大牟田市": "40202", "久留米市": "40203", "飯塚市": "40205",
           "田川市": "40206", "八女市": "40210", "朝倉市": "40228"},
    "41": {"佐賀市": "41201", "唐津市": "41202", "鳥栖市": "41203", "伊万里市": "41205"},
    "42": {"長崎市": "42201", "佐世保市": "42202", "島原市": "42203", "諫早市": "42204",
           "五島市": "42211"},
    "43": {"熊本市": "43100", "八代市": "43202", "人吉市": "43203", "玉名市": "43206",
           "山鹿市": "43208", "菊池市": "43210", "天草市": "43215"},
    "44": {"大分市": "44201", "中津市": "44203", "日田市": "44204"},
    "45": {"宮崎市": "45201", "都城市": "45202", "延岡市": "45203", "日南市": "45204",
           "小林市": "45205", "日向市": "45206"},
    "46": {"鹿児島市": "46201", "鹿屋市": "46203", "指宿市": "46210", "薩摩川内市": "46215",
           "霧島市": "46218", "南さつま市": "46220", "奄美市": "46222"},
    "47": {"浦添市": "47208", "名護市": "47209", "うるま市": "47213", "宮古島市": "47214"},
}  # fmt: skip

# The source misprints 能代 as 熊代 in one slide heading (no 熊代市 exists; 能代市 is in the
# table, and the slide's own text names 能代市農業技術センター).
MISPRINTS = {"熊代市": "能代市"}


@dataclass(frozen=True)
class KpiSpec:
    name: str
    baseline: str | None = None
    current: str | None = None
    target: str | None = None
    project: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class ExampleSpec:
    name: str
    heading: str  # as printed, to locate the example
    central_cities: tuple[str, ...]
    kpis: tuple[KpiSpec, ...] = ()
    composition: str | None = None
    members: str | None = None  # 連携団体, as printed
    vision_date: str | None = None  # 第１期ビジョン策定日, as printed
    note: str | None = None


EXAMPLES: tuple[ExampleSpec, ...] = (
    ExampleSpec(
        "湖東定住自立圏", "湖東定住自立圏（彦根市） 1市4町", ("彦根市",), composition="1市4町",
        kpis=(KpiSpec("病児・病後児保育の利用者数", "484人（H26）", "555人（H29）", "600人（H31）",
                      project="圏域の病児・病後児保育"),),
    ),
    ExampleSpec(
        "九州周防灘地域定住自立圏", "九州周防灘地域定住自立圏（大分県中津市）", ("中津市",),
        composition="4市2町", members="豊前市、上毛町、築上町、豊後高田市、宇佐市",
        vision_date="平成22年３月12日",
        kpis=(
            KpiSpec("コミュニティバス年間利用者数", "9,259人（H27）", "10,458人（H30見込）",
                    "12,000人（H31）", project="圏域のコミュニティバス豊前・中津線運行"),
            KpiSpec("今後も引き続き365日の小児救急医療体制を維持していくこと",
                    project="小児救急センター支援事業", field="医療"),
        ),
    ),
    ExampleSpec(
        "玉名圏域定住自立圏", "玉名圏域定住自立圏（玉名市） 1市3町", ("玉名市",), composition="1市3町",
        kpis=(KpiSpec("空き家バンク登録物件の成約件数", "0件（H28）", "18件（H30）", "35件（H33）",
                      project="圏域の空き家バンク連携"),),
        note="このKPIの帰属は消去法による(もう一方の1市3町の欄は能代市の取組を記す)",
    ),
    ExampleSpec(
        "熊代山本定住自立圏", "熊代山本定住自立圏（熊代市） 1市3町", ("熊代市",), composition="1市3町",
        kpis=(KpiSpec("新規就農者数", "29人（H27）", "30人（H29）", "35人（H32）",
                      project="農林水産業の担い手育成"),),
        note="資料の表記どおり「熊代」。能代山本定住自立圏(能代市)の誤植と解される",
    ),
    ExampleSpec(
        "小山地区定住自立圏", "小山地区定住自立圏（栃木県小山市）", ("小山市",),
        members="下野市、結城市、野木町", vision_date="平成29年10月５日",
        kpis=(KpiSpec("地域医療啓発事業の実施（講演会・広報誌・実態調査等）", "市町単独実施（H28）",
                      "協働で実施", project="地域医療連携体制の充実強化", field="医療"),),
    ),
    ExampleSpec(
        "伊賀・山城南定住自立圏", "伊賀・山城南定住自立圏（三重県伊賀市）", ("伊賀市",),
        members="笠置町、南山城村", vision_date="平成29年６月16日",
        kpis=(KpiSpec("救急・健康相談ダイヤル24受付件数", "2,648件（H29）", "2,878件（H30）",
                      "3,050件（R３）", project="救急・健康相談ダイヤル24事業", field="医療"),),
    ),
    ExampleSpec(
        "伊万里・有田地区定住自立圏", "伊万里・有田地区定住自立圏（佐賀県伊万里市）", ("伊万里市",),
        members="有田町", vision_date="平成22年４月23日",
        kpis=(
            KpiSpec("圏域の中核的病院となる伊万里有田共立病院を整備",
                    project="中核的病院整備推進事業", field="医療"),
            KpiSpec("運営費支出額", None, "211,145千円（H29）", "186,395千円（R元）",
                    project="中核的病院整備推進事業", field="医療"),
        ),
    ),
    ExampleSpec(
        "庄内北部定住自立圏", "庄内北部定住自立圏（山形県酒田市）", ("酒田市",),
        members="三川町、庄内町、遊佐町", vision_date="平成27年３月30日",
        kpis=(KpiSpec("広域利用件数", "72件（H26）", "88件（H30）", "85件（R元）",
                      project="病児・病後児保育施設の相互（広域）利用", field="福祉"),),
    ),
    ExampleSpec(
        "本庄地域定住自立圏", "本庄地域定住自立圏（埼玉県本庄市）", ("本庄市",),
        members="美里町、神川町、上里町", vision_date="平成22年11月29日",
        kpis=(KpiSpec("ハローワーク本庄管障がい者雇用率", "1.90％（H28）", "2.11％（H30）",
                      "2.15％（R元）", project="障害者就労支援センター事業", field="福祉"),),
    ),
    ExampleSpec(
        "衣浦定住自立圏", "衣浦定住自立圏（愛知県刈谷市）", ("刈谷市",),
        members="知立市、高浜市", vision_date="平成24年３月１日",
        kpis=(
            KpiSpec("圏域になかった肢体不自由児に特化した特別支援学校を整備",
                    project="特別支援学校運営事業", field="教育"),
            KpiSpec("通学者数", None, "29人（H30）", "54人（R２）",
                    project="特別支援学校運営事業", field="教育"),
        ),
    ),
    ExampleSpec(
        "田川広域定住自立圏", "田川広域定住自立圏（福岡県田川市）", ("田川市",),
        members="香春町、添田町、糸田町、川崎町、大任町、赤村、福智町", vision_date="平成29年10月27日",
        kpis=(KpiSpec("給付型奨学金利用者数（累計）", None, "134人（H29-H30）", "350人（H29-R3）",
                      project="給付型奨学金事業", field="教育"),),
    ),
    ExampleSpec(
        "南信州定住自立圏", "南信州定住自立圏（長野県飯田市）", ("飯田市",),
        members="松川町、高森町、阿南町、阿智村、平谷村、根羽村、下條村、売木村、天龍村、泰阜村、"
        "喬木村、豊丘村、大鹿村",
        vision_date="平成21年12月24日",
        kpis=(KpiSpec("ビジネスネットワーク支援センター事業新規マッチング受注額", None,
                      "1,048百万円（H30）", "1,000百万円（R５）",
                      project="公益財団法人南信州・飯田産業センターの運営等", field="産業振興"),),
    ),
    ExampleSpec(
        "播磨科学公園都市圏域定住自立圏", "播磨科学公園都市圏域定住自立圏（兵庫県たつの市）", ("たつの市",),
        members="宍粟市、上郡町、佐用町", vision_date="平成28年９月27日",
        kpis=(KpiSpec("ビジネスマッチングフェア参加企業数", "53社（H28）", "69社（H30）", "63社（R２）",
                      project="雇用・企業等誘致の推進事業", field="産業振興"),),
    ),
    ExampleSpec(
        "那須地域定住自立圏", "那須地域定住自立圏（栃木県那須塩原市）", ("那須塩原市",),
        members="大田原市、那須町、那珂川町", vision_date="平成26年10月30日",
        kpis=(KpiSpec("那須地域定住自立圏地域公共交通網形成計画の策定", "未策定（H28）", "策定済（H29）",
                      project="公共交通ネットワーク事業", field="地域公共交通"),),
    ),
    ExampleSpec(
        "大和まほろば広域定住自立圏", "大和まほろば広域定住自立圏（奈良県天理市）", ("天理市",),
        members="山添村、川西町、三宅町、田原本町", vision_date="平成27年９月30日",
        kpis=(KpiSpec("天理市コミュニティバスの結崎駅における乗降客数", "857人（H29）", "2,330人（H30）",
                      "1,800人（R元）", project="コミュニティバス相互連携事業", field="地域公共交通"),),
    ),
    ExampleSpec(
        "都城広域定住自立圏", "都城広域定住自立圏（宮崎県都城市）", ("都城市",),
        members="三股町、曽於市、志布志市", vision_date="平成22年３月３日",
        kpis=(KpiSpec("都城職業安定所管内における一般職業紹介の就職率", None, "53.0％（H30）",
                      "53.0％（R元）", project="若者が活躍する圏域へ！移住・定住パートナーシップ事業",
                      field="交流・移住促進"),),
    ),
    ExampleSpec(
        "新発田市・胎内市・聖籠町定住自立圏", "新発田市・胎内市・聖籠町定住自立圏（新潟県新発田市）",
        ("新発田市",), members="胎内市、聖籠町", vision_date="平成29年３月30日",
        kpis=(
            KpiSpec("ライフデザインを考えるきっかけになった人の割合", "79.7%（H28）", "83%（H30）",
                    "86%（R3）", project="婚活支援事業", field="交流・移住促進"),
            KpiSpec("イベント参加者のカップル率", "37.8%（H28）", "40%（H30）", "42%（R3）",
                    project="婚活支援事業", field="交流・移住促進"),
        ),
    ),
    ExampleSpec(
        "奥州・北上・金ケ崎・西和賀定住自立圏",
        "奥州・北上・金ケ崎・西和賀定住自立圏（岩手県北上市・奥州市）", ("北上市", "奥州市"),
        members="金ケ崎町、西和賀町", vision_date="平成27年10月30日",
        kpis=(KpiSpec("合同研修の実施回数", "０回（H28）", "９回（R元）", "２回（R元）",
                      project="職員の合同研修（構成市町職員研修相互参加）", field="その他"),),
    ),
    ExampleSpec(
        "長岡地域定住自立圏", "長岡地域定住自立圏（新潟県長岡市）", ("長岡市",),
        members="小千谷市、見附市、出雲崎町", vision_date="平成22年３月25日",
        kpis=(KpiSpec("中越市民防災安全大学卒業者数", "494人（H27）", "638人（H30）", "635人（H30)",
                      project="中越市民防災安全大学支援事業", field="その他"),),
    ),
)  # fmt: skip


# --- small readers ----------------------------------------------------------------------


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def squash(text: str) -> str:
    """Drop all whitespace: names and values break across lines in the PDF text."""
    return re.sub(r"\s+", "", text)


def fiscal_year(token: str) -> int:
    """H26 → 2014, R元 → 2019, R3 → 2021 (Gregorian year in which the FY starts)."""
    m = re.fullmatch(r"([HR])(元|\d+)", nfkc(token).strip())
    if not m:
        raise ExtractError(f"not an era year: {token!r}")
    n = 1 if m[2] == "元" else int(m[2])
    return (1988 if m[1] == "H" else 2018) + n


def era_date(text: str) -> date:
    """平成22年３月12日 → 2010-03-12."""
    m = re.fullmatch(r"(平成|令和)(元|\d+)年(\d+)月(\d+)日", nfkc(text))
    if not m:
        raise ExtractError(f"not an era date: {text!r}")
    year = (1988 if m[1] == "平成" else 2018) + (1 if m[2] == "元" else int(m[2]))
    return date(year, int(m[3]), int(m[4]))


def kpi_value(printed: str) -> dict[str, Any]:
    """'10,458人（H30見込）' → value 10458, unit 人, fy 2018, estimate; text values kept as text."""
    parts = re.fullmatch(r"(?P<value>[^（(]+)(?:[（(](?P<fy>[^）)]+)[）)])?", printed)
    if not parts:
        raise ExtractError(f"not a KPI value: {printed!r}")
    value_part, fy_part = parts["value"], parts["fy"]
    out: dict[str, Any] = {"printed": printed, "value": None, "text": None, "unit": None}
    out |= {"fy": None, "fy_from": None, "estimate": False}
    m = re.match(r"^([0-9０-９][0-9０-９,，.．]*)(.*)$", value_part)
    if m:
        number = nfkc(m[1]).replace(",", "")
        out["value"] = float(number) if "." in number else int(number)
        out["unit"] = m[2] or None
    else:
        out["text"] = value_part
    if fy_part:
        span = nfkc(fy_part)
        if span.endswith("見込"):
            out["estimate"], span = True, span.removesuffix("見込")
        first, _, last = span.partition("-")
        out["fy"] = fiscal_year(last or first)
        out["fy_from"] = fiscal_year(first) if last else None
    return out


def section(text: str, start: str, end: str) -> str:
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i < 0 or j < 0:
        raise ExtractError(f"section {start!r} … {end!r} not found")
    return text[i + len(start) : j]


def number(pattern: str, text: str) -> tuple[int, ...]:
    m = re.search(pattern, nfkc(text))
    if not m:
        raise ExtractError(f"figure not found: {pattern}")
    return tuple(int(g) for g in m.groups())


def city_code(pref: str, name: str) -> str | None:
    five = CITY_CODES.get(pref, {}).get(name)
    if five is None:
        return None
    code = normalize_municipality_code(five)
    if code[:2] != pref:
        raise ExtractError(f"code {code} of {name} is not in prefecture {pref}")
    return code


def split_marks(item: str) -> tuple[str, str]:
    """'【函館市】' → ('函館市', '【】'); the bracket kind is the table's legend mark."""
    for mark in ("【】", "〈〉", "（）", "()"):
        if item.startswith(mark[0]) and item.endswith(mark[1]):
            return item[1:-1], "（）" if mark == "()" else mark
    return item, ""


# --- the table of central cities ------------------------------------------------------------

TABLE_HEAD = "都道府県 宣言中心市 中心市要件を満たす市（左記を除く）"
_TERMINAL = "市）)】〉―—"


def _table_rows(text: str) -> dict[str, str]:
    """One joined string per prefecture row, columns separated by one space."""
    body = section(text, TABLE_HEAD, "\n合計 ")
    rows: dict[str, list[str]] = {}
    current = None
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line == TABLE_HEAD:
            continue
        head, _, rest = line.partition(" ")
        if head in PREF_BY_NAME:
            current, rows[head] = head, [rest.strip()] if rest.strip() else []
        elif current is None:
            raise ExtractError(f"table line before any prefecture: {line!r}")
        else:
            rows[current].append(line)
    if set(rows) != set(PREF_BY_NAME):
        raise ExtractError(f"table rows missing: {sorted(set(PREF_BY_NAME) - set(rows))}")
    joined = {}
    for pref, lines in rows.items():
        out = ""
        for line in lines:
            continues = out.endswith("、") or line.startswith(("（複眼型", "(複眼型", "、"))
            if out and not continues and out[-1] in _TERMINAL:
                out += " "
            out += line
        joined[pref] = re.sub(r"\s*、\s*", "、", out)
    return joined


def _displaced_cells(text: str) -> dict[str, str]:
    """Shaded cells printed after the table: name → mark ('【】' for a core city, else '')."""
    body = section(text, "\n合計 ", "定住自立圏における取組例")
    found = {}
    for line in body.splitlines():
        if re.fullmatch(r"【?[^\s【】、○※]+市】?", line.strip()):
            name, mark = split_marks(line.strip())
            found[name] = mark
    expected = {n for names in SHADED_CELLS.values() for n in names}
    if set(found) != expected:
        raise ExtractError(f"displaced cells {sorted(found)} != expected {sorted(expected)}")
    return found


def _items(run: str, pref: str, fill: list[str], displaced: dict[str, str]) -> list[dict[str, Any]]:
    """Cities of one cell; empty items take the displaced shaded cells in `fill`, in order."""
    fill = list(fill)
    cities = []
    for item in run.split("、"):
        shaded = not item
        if shaded:
            if not fill:
                raise ExtractError(f"{pref}: more empty cells than SHADED_CELLS lists")
            name = fill.pop(0)
            item = f"【{name}】" if displaced[name] == "【】" else name
        m = re.fullmatch(r"(.+?)([（(]複眼型[）)])?", item)
        assert m is not None
        names = m[1].split("・")
        for piece in names:
            name, mark = split_marks(piece)
            other = [split_marks(p)[0] for p in names if p != piece]
            cities.append(
                {
                    "name": name,
                    "mark": mark,
                    "dual": bool(m[2]),
                    "partner": other[0] if other else None,
                    "shaded": shaded,
                }
            )
    if fill:
        raise ExtractError(f"{pref}: SHADED_CELLS {fill} have no empty cell")
    return cities


def parse_table(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(declared central cities, further cities meeting the requirements), in table order."""
    displaced = _displaced_cells(text)
    declared: list[dict[str, Any]] = []
    eligible: list[dict[str, Any]] = []
    for pref, joined in _table_rows(text).items():
        runs = [r for r in joined.split() if r]
        if len(runs) == 1:
            runs = ["", ""] if runs[0] in DASHES else ["", runs[0]]
        if len(runs) != 2:
            raise ExtractError(f"{pref}: cannot split {joined!r} into two columns")
        left, right = ("" if r in DASHES else r for r in runs)
        shaded = SHADED_CELLS.get(pref, [])
        for target, run, fill in ((declared, left, shaded), (eligible, right, [])):
            for city in _items(run, pref, fill, displaced) if run else []:
                target.append({"prefecture": PREF_BY_NAME[pref], **city})
        if not left and pref in SHADED_CELLS:
            raise ExtractError(f"{pref}: SHADED_CELLS given but the row has no declared column")
    total_declared, total_eligible = number(r"\n合計 (\d+) (\d+)", text)
    if (len(declared), len(eligible)) != (total_declared, total_eligible):
        raise ExtractError(
            f"table gives {len(declared)}/{len(eligible)} cities, its totals say "
            f"{total_declared}/{total_eligible}"
        )
    return declared, eligible


# --- the map, the footnotes and the metropolitan list -------------------------------------

_MAP_TOKEN = re.compile(
    r"(?P<pre>[★◆●]*)(?P<note1>※?)(?P<open>（?)"
    r"(?P<names>[^\s（）★◆●※・]+?市(?:・[^\s（）★◆●※・]+?市)?)"
    r"(?P<close>）?)(?P<note2>※?)(?P<post>[★◆●]*)"
)


def parse_map(text: str) -> dict[str, dict[str, Any]]:
    """Names on the map with the marks printed against them: name → {marks, bracketed}."""
    start = text.index("定住自立圏構想の取組状況\n")
    body = text[start : text.index(TABLE_HEAD)]
    legend = re.search(r"＜中心市宣言済み市.*?日南市）", body, re.S)
    if legend is None:
        raise ExtractError("map legend not found")
    body = body[: legend.start()] + body[legend.end() :]
    found: dict[str, dict[str, Any]] = {}
    for token in body.split():  # a mark counts only when nothing separates it from the name
        m = _MAP_TOKEN.fullmatch(token)
        if m:
            marks = m["pre"] + m["note1"] + m["note2"] + m["post"]
            for name in m["names"].split("・"):
                entry = found.setdefault(name, {"marks": "", "bracketed": False})
                entry["marks"] += marks
                entry["bracketed"] |= bool(m["open"] and m["close"])
    return found


def _listed_zones(text: str, label: str, tail: str) -> list[list[str]]:
    """A footnote list of zones: '十和田市・三沢市、大田原市、…' → [[十和田市, 三沢市], [大田原市], …]."""
    m = re.search(rf"{label}：(\d+)圏域\s*（(.*?){tail}", text, re.S)
    if m is None:
        raise ExtractError(f"footnote {label} not found")
    zones = [z.split("・") for z in re.split(r"[、\s]+", m[2].strip()) if z]
    if len(zones) != int(m[1]):
        raise ExtractError(f"{label}: {len(zones)} zones listed, the source says {m[1]}")
    return zones


def parse_metropolitan(text: str) -> list[dict[str, Any]]:
    m = re.search(r"以下の(\S+?)市が宣言連携中枢都市 （(.*?)現在）\n(.*?)\n\n", text, re.S)
    if m is None:
        raise ExtractError("list of metropolitan central cities not found")
    cities = []
    for item in squash(m[3]).split("、"):
        pair = re.fullmatch(r"(.+?)(（複眼型）)?", item)
        assert pair is not None
        names = pair[1].split("・")
        for name in names:
            partner = next((n for n in names if n != name), None)
            pref = PREF_BY_NAME[METRO_PREFECTURES[name]]
            cities.append({"name": name, "prefecture": pref, "partner": partner})
    if len(cities) != int(nfkc(m[1])):
        raise ExtractError(f"{len(cities)} metropolitan cities parsed, the source says {m[1]}")
    return cities


# --- national figures ------------------------------------------------------------------------


def parse_chart(text: str) -> list[dict[str, Any]]:
    """The yearly chart: declared cities, zones formed, zones with a vision (4/1 until H30)."""
    body = section(text, "※H30以前は4月1日時点の数値", "\nH21 ")
    labels = re.search(r"\n(H21 .*?)\n", text[text.index(body) :])
    assert labels is not None
    runs: list[list[int]] = []
    for n in map(int, re.findall(r"\d+", body)):
        if runs and n > runs[-1][-1]:
            runs[-1].append(n)
        else:
            runs.append([n])
    if len(runs) != 4:
        raise ExtractError(f"chart: expected 3 series and an axis, got {runs}")
    names = labels[1].split()
    # The first run carries one number too many: the slide's page number (7) precedes the
    # series. Read as a count it would give 16 declared cities in 2010 against 30 zones formed.
    declared = runs[0][-len(names) :]
    formed, visions = runs[1], runs[2]
    points = []
    for i, label in enumerate(names):
        j = i - (len(names) - len(formed))
        as_of = AS_OF if label.startswith("R元") else date(fiscal_year(label), 4, 1)
        points.append(
            {
                "label": label,
                "as_of": as_of.isoformat(),
                "declared": declared[i],
                "zones_formed": formed[j] if j >= 0 else None,
                "visions": visions[j] if j >= 0 else None,
            }
        )
    for p in points:
        if p["zones_formed"] is not None and not p["visions"] <= p["zones_formed"] <= p["declared"]:
            raise ExtractError(f"chart point {p} is not visions ≤ formed ≤ declared")
    return points


def parse_kpi_fields(text: str) -> list[dict[str, Any]]:
    """The table of zones that set KPIs, per field of the three perspectives (112 zones)."""
    body = section(text, "ＫＰＩ設定圏域における設定状況（要綱上の取組で分類）", "ＫＰＩの設定例について")
    rows: list[dict[str, Any]] = []
    perspective = ""
    for raw in body.splitlines():
        line = raw.strip(" ")
        head = re.fullmatch(r"[アイウ]\u3000(.+?)に係る政策分野 設定圏域数", line)
        item = re.fullmatch(r"([ａ-ｆ])\u3000(.+?)(?: (\d+))?", line)
        if head:
            perspective = head[1]
        elif item:
            rows.append({"perspective": perspective, "letter": nfkc(item[1]), "field": item[2]})
            rows[-1]["zones"] = int(item[3]) if item[3] else None
        elif re.fullmatch(r"\d+", line) and rows and rows[-1]["zones"] is None:
            rows[-1]["zones"] = int(line)
        elif line.startswith("\u3000") and rows and rows[-1]["zones"] is None:
            rows[-1]["field"] += line.strip("\u3000")
    if len(rows) != 16 or any(r["zones"] is None for r in rows):
        raise ExtractError(f"KPI field table: {rows}")
    return rows


def parse_national(text: str, eligible: int) -> dict[str, Any]:
    def one(pattern: str) -> int:
        return number(pattern, text)[0]

    formed, municipalities = number(r"○(\d+)の定住自立圏が成立\((\d+)市町村\)", text)
    vision_cities, vision_zones = number(r"策定済みの圏域数\((\d+)市・(\d+)圏域\)", text)
    no_vision_cities, no_vision_zones = number(r"策定まで終えた市\((\d+)市・(\d+)圏域\)", text)
    target_year, target_zones = number(r"KPI: (\d{4})年 (\d+)圏域", text)
    pilot_cities, pilot_zones = number(r"中心市(\d+)市\((\d+)圏域\)などを決定", text)
    survey_visions, survey_kpis = number(
        r"平成31年2月末時点で定住自立圏共生ビジョンを策定している(\d+)圏域のうち、(\d+)圏域", text
    )
    metro_cities, metro_areas, metro_municipalities = number(
        r"平成31年4月1日現在、\s*(\d+)市\((\d+)圏域\)が連携中枢都市圏を形成\s*"
        r"\(近隣市町村を含めた延べ市町村数:(\d+)\)",
        text,
    )
    if "令和元年１１月１日時点" not in text:
        raise ExtractError("the source's date 令和元年１１月１日時点 is not in the text")
    return {
        "as_of": AS_OF.isoformat(),
        "settlement_declared": one(r"○(\d+)市が中心市宣言を実施"),
        "settlement_zones_formed": formed,
        "settlement_municipalities": municipalities,
        "settlement_visions": one(r"○(\d+)圏域が共生ビジョンを策定"),
        "settlement_vision_cities": vision_cities,
        "settlement_vision_zones": vision_zones,
        "settlement_formed_no_vision_cities": no_vision_cities,
        "settlement_formed_no_vision_zones": no_vision_zones,
        "settlement_declaration_only_cities": one(r"中心市宣言のみ実施済み\s*の市\((\d+)市\)"),
        "cross_prefecture_zones": one(r"県境型圏域:(\d+)圏域"),
        "dual_centre_zones": one(r"複眼型中心市圏域:(\d+)圏域"),
        "merged_single_city_zones": one(r"合併1市圏域:(\d+)圏域"),
        "eligible_not_declared": eligible,
        "target_zones": target_zones,
        "target_year": target_year,
        "pilot_cities": pilot_cities,
        "pilot_zones": pilot_zones,
        "kpi_survey_date": KPI_SURVEY_DATE.isoformat(),
        "kpi_survey_zones_with_vision": survey_visions,
        "kpi_survey_zones_with_kpis": survey_kpis,
        "metropolitan_formed_as_of": METRO_FORMED_AS_OF.isoformat(),
        "metropolitan_formed_cities": metro_cities,
        "metropolitan_formed_areas": metro_areas,
        "metropolitan_municipalities": metro_municipalities,
        "metropolitan_declared": one(r"以下の(\d+)市が宣言連携中枢都市"),
        "kpi_fields": parse_kpi_fields(text),
        "formation_chart": parse_chart(text),
    }


# --- the examples ----------------------------------------------------------------------------


def _kpi(spec: KpiSpec, flat: str) -> dict[str, Any]:
    if squash(spec.name) not in flat:
        raise ExtractError(f"KPI name {spec.name!r} not in the source")
    out: dict[str, Any] = {"name": spec.name, "project": spec.project, "field": spec.field}
    units = set()
    for key in ("baseline", "current", "target"):
        printed = getattr(spec, key)
        if printed is not None and squash(printed) not in flat:
            raise ExtractError(f"KPI {spec.name!r}: {key} {printed!r} not in the source")
        value = kpi_value(printed) if printed is not None else None
        if value is not None and value["value"] is not None:
            units.add(value["unit"])
        if value is not None:
            del value["unit"]
        out[key] = value
    if len(units) > 1:
        raise ExtractError(f"KPI {spec.name!r} mixes units {units}")
    out["unit"] = units.pop() if units else None
    return out


def parse_examples(text: str, declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = squash(text)
    pref_of = {c["name"]: c["prefecture"] for c in declared}
    examples = []
    for spec in EXAMPLES:
        if squash(spec.heading) not in flat:
            raise ExtractError(f"example heading {spec.heading!r} not in the source")
        resolved = [MISPRINTS.get(c, c) for c in spec.central_cities]
        if any(c not in pref_of for c in resolved):
            raise ExtractError(f"{spec.name}: central city {resolved} is not a declared city")
        printed_pref = [code for name, code in PREF_BY_NAME.items() if f"（{name}" in spec.heading]
        prefecture = printed_pref[0] if printed_pref else pref_of[resolved[0]]
        if prefecture != pref_of[resolved[0]]:
            raise ExtractError(f"{spec.name}: prefecture {prefecture} disagrees with the table")
        if spec.composition and squash(f"（{'・'.join(spec.central_cities)}）{spec.composition}") not in flat:
            raise ExtractError(f"{spec.name}: composition {spec.composition} not in the source")
        if spec.members and squash(spec.members) not in flat:
            raise ExtractError(f"{spec.name}: members {spec.members!r} not in the source")
        if spec.vision_date and spec.vision_date not in text:
            raise ExtractError(f"{spec.name}: vision date {spec.vision_date!r} not in the source")
        examples.append(
            {
                "name": spec.name,
                "central_cities": list(spec.central_cities),
                "prefecture": prefecture,
                "composition": spec.composition,
                "members": spec.members.split("、") if spec.members else [],
                "first_vision_date": era_date(spec.vision_date).isoformat() if spec.vision_date else None,
                "kpis": [_kpi(k, flat) for k in spec.kpis],
                "note": spec.note,
            }
        )
    return examples


# --- assembly --------------------------------------------------------------------------------

NOTES = (
    "Map marks (★ ◆ ● ※ and brackets) are recorded only where they touch a name "
    "(★彦根市); the text keeps 100 ★ for 131 cities and 3 ● for the 4 declaration-only cities, so "
    "zone_formed / vision_drafted are null where no mark, footnote or example settles them.",
    "富山県・石川県・福井県・京都府・和歌山県 print one list in the table; it is the right-hand "
    "column (中心市要件を満たす市), the only reading that gives the totals 138 and 69.",
    "The shaded cells (網掛け = 宣言連携中枢都市) of the table are printed after it; they were "
    "put back into their rows (八戸市, 山形市, 鳥取市, 下関市, 山口市, 高松市, 高知市, 久留米市, "
    "長崎市), each a declared metropolitan central city.",
    "The chart's first number (7) is the slide's page number, not a count: 16 declared cities "
    "in 2009 is the first point (H21), and 7 would contradict 30 zones formed in 2010.",
    "熊代山本定住自立圏（熊代市） is printed so; 熊代 is a misprint of 能代 (能代市).",
    "伊万里・有田: 211,145千円（H29） is printed as 現状値 (current), not 基準値; 田川: 134人 "
    "（H29-H30） is 現状値 too. The example of a target already exceeded, 88 against 85, is "
    "庄内北部定住自立圏 (酒田市), not 伊賀・山城南.",
    "The per-field counts of initiatives in the 126 zones (121圏域, 108圏域, …) lost their "
    "labels in the text and are not recorded; the KPI table per field (112 zones) is.",
    "Prefectures of the 35 metropolitan central cities are not printed; they are supplied.",
)


def _flags(
    city: dict[str, Any],
    on_map: dict[str, dict[str, Any]],
    footnotes: dict[str, set[str]],
    examples: set[str],
    metro: set[tuple[str, str]],
) -> dict[str, Any]:
    """Progress and programme flags of a declared city; None where the source is silent."""
    name, marks = city["name"], on_map.get(city["name"], {}).get("marks", "")
    formed = vision = None
    if name in footnotes["cross"] | footnotes["dual"] | footnotes["merged"]:
        formed = True
    if "★" in marks or name in examples:
        formed = vision = True
    if "◆" in marks:
        formed, vision = True, False
    if "●" in marks:
        formed = vision = False
    return {
        "zone_formed": formed,
        "vision_drafted": vision,
        "cross_prefecture": name in footnotes["cross"],
        "merged_single_city": name in footnotes["merged"],
        "declared_metropolitan": (name, city["prefecture"]) in metro,
        "moved_to_metropolitan": on_map[name]["bracketed"] if name in on_map else None,
        "multi_nature_hub": True if "※" in marks else None,
        "map_marks": "".join(dict.fromkeys(marks)),
    }


def _city(c: dict[str, Any], **fields: Any) -> dict[str, Any]:
    code = city_code(c["prefecture"], c["name"])
    return {"name": c["name"], "prefecture": c["prefecture"], "code": code, **fields}


def _marks(mark: str) -> dict[str, bool]:
    """The table's legend: 【】 core city, 〈〉 meets core-city needs, （）only 多自然拠点都市."""
    return {
        "core_city": mark == "【】",
        "core_city_eligible": mark == "〈〉",
        "multi_nature_only": mark == "（）",
    }


def _share_zone_flags(cities: list[dict[str, Any]]) -> None:
    """Formation and vision belong to the zone: what one dual-centre city shows, both have."""
    by_name = {c["name"]: c for c in cities}
    for city in cities:
        partner = by_name.get(city["dual_centre_partner"] or "")
        for key in ("zone_formed", "vision_drafted") if partner else ():
            mine, theirs = city[key], partner[key]
            if None not in (mine, theirs) and mine != theirs:
                raise ExtractError(f"{city['name']} and {partner['name']} disagree on {key}")
            city[key] = partner[key] = theirs if mine is None else mine


def build_register(text: str) -> dict[str, Any]:
    declared, eligible = parse_table(text)
    names = [c["name"] for c in declared]
    if len(set(names)) != len(names):
        raise ExtractError("declared city names are not unique nationally")
    on_map = parse_map(text)
    if stray := set(on_map) - set(names):
        raise ExtractError(f"names on the map that are not declared cities: {stray}")
    cross = _listed_zones(text, "県境型圏域", "を中心市とする圏域）")
    dual = _listed_zones(text, "複眼型中心市圏域", "を中心市とする圏域）")
    merged = _listed_zones(text, "合併１市圏域", "）")
    footnotes = {"cross": cross, "dual": dual, "merged": merged}
    listed = {k: {n for zone in v for n in zone} for k, v in footnotes.items()}
    if unknown := set().union(*listed.values()) - set(names):
        raise ExtractError(f"footnote names that are not declared cities: {unknown}")
    partners = {a: b for z in dual for a, b in (z, z[::-1])}
    if {c["name"] for c in declared if c["dual"]} != set(partners):
        raise ExtractError("the table's 複眼型 cities differ from the footnote's pairs")
    metro = parse_metropolitan(text)
    metro_keys = {(m["name"], m["prefecture"]) for m in metro}
    shaded = {(c["name"], c["prefecture"]) for c in declared if c["shaded"]}
    if shaded != {(c["name"], c["prefecture"]) for c in declared} & metro_keys:
        raise ExtractError("shaded cells differ from the declared cities in the metropolitan list")
    examples = parse_examples(text, declared)
    with_vision = {
        MISPRINTS.get(n, n) for e in examples if e["first_vision_date"] for n in e["central_cities"]
    }

    settlement = [
        _city(c, **_marks(c["mark"]), dual_centre_partner=partners.get(c["name"]))
        | _flags(c, on_map, listed, with_vision, metro_keys)
        for c in declared
    ]
    _share_zone_flags(settlement)
    further = [_city(c, **_marks(c["mark"])) for c in eligible]
    metropolitan = [_city(m, dual_centre_partner=m["partner"], declared_metropolitan=True) for m in metro]
    national = parse_national(text, len(further))
    last = national["formation_chart"][-1]
    if (last["declared"], last["zones_formed"], last["visions"]) != (
        national["settlement_declared"], national["settlement_zones_formed"], national["settlement_visions"]
    ):  # fmt: skip
        raise ExtractError(f"the chart's last point {last} disagrees with the stated totals")
    return {
        "source": SOURCE,
        "as_of": AS_OF.isoformat(),
        "national": national,
        "settlement_central_cities": settlement,
        "eligible_cities": further,
        "metropolitan_central_cities": metropolitan,
        "zone_examples": examples,
        "notes": list(NOTES),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python -m kenflow.register_extract SEED.txt [OUT.json]", file=sys.stderr)
        return 2
    out = Path(args[1]) if len(args) == 2 else DEFAULT_OUT
    try:
        register = build_register(Path(args[0]).read_text(encoding="utf-8"))
    except ExtractError as exc:
        print(f"register_extract: {exc}", file=sys.stderr)
        return 1
    out.write_text(json.dumps(register, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
