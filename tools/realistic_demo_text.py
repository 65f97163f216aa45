"""The literal conversations of data/demo/wildchat_realistic.jsonl (tools/make_demo_data.py turns them into rows).

Written for rewild, not copied from WildChat, but shaped like it: long multi-turn chats where users paste code,
tracebacks and whole articles, say "continue", switch language mid-conversation, write in Chinese, Russian,
Arabic, Hindi, Japanese and Spanish, use emoji; plus the odd rows WildChat has (an empty first turn, an empty
reply, a conversation that opens with an assistant turn, one that ends on an unanswered user turn, toxic and
redacted turns).

Each entry: (language, messages, options). Messages alternate user/assistant starting with the user unless
options["first"] == "assistant". Options: "toxic" (message indices WildChat's moderation flagged),
"redacted" (indices holding PII placeholders), "langs" (per-message language where it differs), "tag".
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------------- pieces
CSV_CODE = '''import csv
from collections import defaultdict


def load_sales(path):
    totals = defaultdict(float)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            region = row["region"].strip()
            amount = float(row["amount"])
            totals[region] += amount
    return dict(totals)


if __name__ == "__main__":
    for region, total in sorted(load_sales("sales.csv").items()):
        print(f"{region:<12} {total:>10.2f}")'''

TRACEBACK = '''Traceback (most recent call last):
  File "C:\\\\Users\\\\user\\\\Desktop\\\\report\\\\main.py", line 17, in <module>
    for region, total in sorted(load_sales("sales.csv").items()):
  File "C:\\\\Users\\\\user\\\\Desktop\\\\report\\\\main.py", line 11, in load_sales
    amount = float(row["amount"])
ValueError: could not convert string to float: '1,234.50'
'''

LONG_CODE = '''import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

log = logging.getLogger("scraper")


@dataclass
class Page:
    url: str
    status: int
    body: str
    fetched_at: float = field(default_factory=time.time)


class Scraper:
    def __init__(self, base_url, out_dir, delay=1.0, retries=3):
        self.base_url = base_url.rstrip("/")
        self.out_dir = Path(out_dir)
        self.delay = delay
        self.retries = retries
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "my-little-scraper/0.1"
        self.seen = set()

    def fetch(self, path):
        url = f"{self.base_url}/{path.lstrip('/')}"
        for attempt in range(self.retries):
            try:
                resp = self.session.get(url, timeout=10)
                return Page(url, resp.status_code, resp.text)
            except requests.RequestException as exc:
                log.warning("attempt %d for %s failed: %s", attempt + 1, url, exc)
                time.sleep(self.delay * (attempt + 1))
        raise RuntimeError(f"giving up on {url}")

    def links(self, page):
        out = []
        for chunk in page.body.split('href="')[1:]:
            link = chunk.split('"', 1)[0]
            if link.startswith("/") and not link.startswith("//"):
                out.append(link)
        return out

    def crawl(self, start="/", limit=50):
        queue = [start]
        pages = []
        while queue and len(pages) < limit:
            path = queue.pop(0)
            if path in self.seen:
                continue
            self.seen.add(path)
            page = self.fetch(path)
            pages.append(page)
            queue.extend(self.links(page))
            time.sleep(self.delay)
        return pages

    def save(self, pages):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            record = {"url": page.url, "status": page.status, "fetched_at": page.fetched_at,
                      "length": len(page.body)}
            (self.out_dir / f"page_{i:04d}.json").write_text(json.dumps(record))
            (self.out_dir / f"page_{i:04d}.html").write_text(page.body)


def main():
    logging.basicConfig(level=logging.INFO)
    scraper = Scraper("https://example.com", "out", delay=0.5)
    pages = scraper.crawl(limit=20)
    scraper.save(pages)
    log.info("saved %d pages", len(pages))


if __name__ == "__main__":
    main()'''

ZH_ARTICLE = (
    "近年来，随着城市化进程的不断加快，越来越多的年轻人从农村来到城市工作和生活。他们在城市里租房、通勤、加班，"
    "逐渐形成了一种新的生活方式。与此同时，农村的人口结构也发生了明显变化：留在村里的大多是老人和儿童，耕地的"
    "利用率下降，一些传统手艺和节日习俗也慢慢失去了传承的人。\n\n"
    "从经济角度看，人口流动为城市提供了大量劳动力，推动了制造业和服务业的发展。外出务工的收入往往比在家务农高"
    "出许多，很多家庭因此盖起了新房，孩子的教育条件也得到了改善。但是，这种流动也带来了不少问题。首先，城市的"
    "住房压力越来越大，房租占据了年轻人收入的很大一部分；其次，公共服务的供给跟不上人口增长，医院和学校常常人"
    "满为患；再次，长期与家人分离，使得留守儿童和空巢老人的心理健康问题日益突出。\n\n"
    "面对这些挑战，各地政府尝试了多种办法。一方面，通过发展县域经济，让一部分年轻人可以在离家更近的地方找到工"
    "作；另一方面，推动户籍制度改革，让进城务工人员能够更平等地享受教育、医疗等公共服务。还有一些地方鼓励返乡"
    "创业，利用电商平台把当地的农产品卖到全国各地。一个在外打工多年的年轻人回到家乡，开了一家网店，专门销售自"
    "家种的猕猴桃，第一年就卖出了两万多单，还带动了周围十几户农民一起增收。\n\n"
    "当然，任何政策都不可能一蹴而就。要真正解决城乡发展不平衡的问题，需要在教育、产业、交通和社会保障等方面长期"
    "投入。对于个人来说，也许没有绝对正确的选择：留在大城市可以获得更多机会和更开阔的视野，回到家乡则可能拥有"
    "更低的生活成本和更紧密的家庭关系。重要的是，每个人都应该有选择的自由，并且无论身在何处，都能过上有尊严的"
    "生活。"
)

# ------------------------------------------------------------------------------------------ conversations
CONVERSATIONS: list[tuple[str, list[str], dict]] = [
    # ---- a long coding session: 8 user turns, code blocks, a pasted traceback
    ("English", [
        "i have this python script that reads a csv of sales and sums by region. can you explain what each part "
        "does? i'm new to python\n\n```python\n" + CSV_CODE + "\n```",
        "Sure! Here is what the script does, piece by piece:\n\n1. **Imports**: `csv` reads CSV files, and "
        "`defaultdict` from `collections` is a dictionary that creates a default value (here `0.0`, because we "
        "pass `float`) the first time you use a missing key.\n2. **`load_sales(path)`** opens the file with "
        "`newline=\"\"` (recommended for the csv module) and UTF-8 encoding, then builds a `DictReader`, which "
        "turns every line into a dictionary keyed by the header row.\n3. For every row it cleans the region name "
        "with `strip()`, converts the amount to a number with `float()`, and adds it to that region's total.\n4. "
        "It returns a normal `dict` so the caller does not get the defaultdict behaviour by accident.\n5. The "
        "`if __name__ == \"__main__\":` block runs only when you execute the file directly. It sorts the regions "
        "alphabetically and prints each one with padding: `<12` left-aligns the name in 12 characters and "
        "`>10.2f` right-aligns the total with two decimals.\n\nIf you tell me what your CSV looks like I can "
        "check that the column names match.",
        "ok i ran it and got this error\n\n" + TRACEBACK,
        "The error says that one of the amounts is the text `'1,234.50'`. Python's `float()` does not accept a "
        "thousands separator, so the comma breaks the conversion.\n\nThe simplest fix is to remove the commas "
        "before converting:\n\n```python\namount = float(row[\"amount\"].replace(\",\", \"\"))\n```\n\nBe "
        "careful if the file comes from a country where the comma is the *decimal* separator (for example "
        "`1.234,50` in Germany). In that case you would need to swap the two characters instead:\n\n```python\n"
        "raw = row[\"amount\"].replace(\".\", \"\").replace(\",\", \".\")\namount = float(raw)\n```\n\nIf the "
        "file mixes both styles, it is worth asking whoever exports it to use one format, because guessing can "
        "silently give wrong totals.",
        "that worked!! now my boss wants the totals per region AND per month. the csv has a date column like "
        "2023-04-17. how do i do that",
        "You can keep the same structure and use a tuple `(region, month)` as the key. The month is simply the "
        "first seven characters of an ISO date:\n\n```python\ndef load_sales(path):\n    totals = "
        "defaultdict(float)\n    with open(path, newline=\"\", encoding=\"utf-8\") as fh:\n        for row in "
        "csv.DictReader(fh):\n            region = row[\"region\"].strip()\n            month = row[\"date\"][:7]"
        "  # '2023-04'\n            amount = float(row[\"amount\"].replace(\",\", \"\"))\n            "
        "totals[(region, month)] += amount\n    return dict(totals)\n```\n\nAnd print it like this:\n\n"
        "```python\nfor (region, month), total in sorted(load_sales(\"sales.csv\").items()):\n    "
        "print(f\"{region:<12} {month}  {total:>10.2f}\")\n```\n\nSorting tuples sorts by region first and "
        "then by month, so each region's months appear together and in order.",
        "would pandas be better for this? a friend said i should use pandas for everything",
        "For this kind of task pandas is very convenient, and it is worth learning. The same report is only a "
        "few lines:\n\n```python\nimport pandas as pd\n\ndf = pd.read_csv(\"sales.csv\", thousands=\",\", "
        "parse_dates=[\"date\"])\ndf[\"month\"] = df[\"date\"].dt.to_period(\"M\")\nreport = df.pivot_table("
        "index=\"region\", columns=\"month\", values=\"amount\", aggfunc=\"sum\", fill_value=0)\n"
        "print(report.round(2))\n```\n\nNotice `thousands=\",\"`: pandas handles the comma problem for you. "
        "`pivot_table` gives a grid with one row per region and one column per month, which is usually what a "
        "manager wants to see.\n\nThat said, \"pandas for everything\" is not quite right. For a tiny script "
        "that runs on a server without extra packages, or for files too large to fit in memory, the plain "
        "`csv` module is still a good choice.",
        "how do i save the pivot table to excel so i can email it",
        "Use `to_excel`. You need the `openpyxl` package installed (`pip install openpyxl`):\n\n```python\n"
        "report.to_excel(\"sales_report.xlsx\", sheet_name=\"By month\")\n```\n\nPeriods such as `2023-04` "
        "become column headers. If Excel shows them oddly, convert them to strings first:\n\n```python\n"
        "report.columns = report.columns.astype(str)\n```\n\nYou can also write several sheets into one file:\n"
        "\n```python\nwith pd.ExcelWriter(\"sales_report.xlsx\") as writer:\n    report.to_excel(writer, "
        "sheet_name=\"By month\")\n    df.to_excel(writer, sheet_name=\"Raw data\", index=False)\n```",
        "it says ModuleNotFoundError: No module named 'openpyxl' but i installed it",
        "This almost always means `pip` installed the package into a different Python than the one running your "
        "script. Two quick checks:\n\n1. Run the script and print the interpreter path:\n\n```python\nimport "
        "sys\nprint(sys.executable)\n```\n\n2. Install with *that* interpreter explicitly:\n\n```bash\n"
        "C:\\Path\\To\\python.exe -m pip install openpyxl\n```\n\nUsing `python -m pip` instead of a bare "
        "`pip` ties the installation to the interpreter you name. If you use VS Code or PyCharm, also check which "
        "interpreter is selected in the bottom bar or the project settings; it may be a virtual environment.",
        "yes it was the vs code interpreter. last thing, can you write me a small test so i know the totals are "
        "right",
        "Good idea. Here is a test with `pytest` that writes a tiny CSV to a temporary folder and checks the "
        "totals:\n\n```python\nfrom main import load_sales\n\n\ndef test_totals(tmp_path):\n    path = tmp_path "
        "/ \"sales.csv\"\n    path.write_text(\n        \"region,date,amount\\n\"\n        \"North,2023-04-01,"
        "\\\"1,000.50\\\"\\n\"\n        \"North,2023-04-20,200\\n\"\n        \"South,2023-05-02,50.25\\n\"\n"
        "    )\n    totals = load_sales(path)\n    assert totals[(\"North\", \"2023-04\")] == 1200.50\n    assert "
        "totals[(\"South\", \"2023-05\")] == 50.25\n```\n\nRun it with `python -m pytest`. The quoted "
        "`\"1,000.50\"` makes sure the comma fix keeps working.",
        "thanks you are a lifesaver",
        "You're welcome! You went from a first script to a tested report in one afternoon, which is great "
        "progress. Good luck with your boss, and feel free to come back if the next request is a chart.",
    ], {"tag": "multi-turn-code"}),

    # ---- story continuation: 9 user turns, mostly "continue"
    ("English", [
        "write the beginning of a mystery story set in a lighthouse on a small island. the main character is a "
        "retired teacher named Agnes",
        "The supply boat came on Tuesdays, and on the Tuesday that Agnes Whitlow found the second letter, it was "
        "late.\n\nShe had lived in the keeper's cottage for three years, ever since the school closed and the "
        "lighthouse trust advertised for \"a caretaker of steady habits\". Steady habits she had: tea at six, a "
        "walk around the island at seven, the lamp room dusted every other day although the light had been "
        "automatic for decades. What she had not expected was post.\n\nThe first letter had arrived in March, "
        "tucked under the cottage door although no boat had come. *You are not the only one who keeps this "
        "light*, it said, in careful pencil capitals. She had told herself it was a joke from one of the "
        "fishermen. The second letter lay on the top step of the lamp room, dry, although it had rained all "
        "night. *Count the steps*, it said. Agnes had climbed those stairs a thousand times. She had never once "
        "counted them.",
        "continue",
        "She counted them on the way down. One hundred and twelve. On the way up again, slower, with her hand on "
        "the cold rail, she counted one hundred and thirteen.\n\nAgnes sat on the top step and laughed at "
        "herself, a short sound that the tower swallowed. A miscount. She was sixty-eight and had taught "
        "arithmetic to forty years of children; she of all people knew how easily a number slips. So she went "
        "down a third time, touching each step with the tip of her walking stick, and said the numbers aloud.\n"
        "\nOne hundred and twelve.\n\nUp: one hundred and thirteen.\n\nThis time she marked the extra one. It "
        "was the fifty-seventh step going up, and it looked like all the others: iron, painted green, worn pale "
        "in the middle. But when she knelt and pressed her palm against it, it was warm, as if someone had been "
        "sitting there a moment before.",
        "continue. make it creepier",
        "That night she did not sleep. The wind worked at the cottage windows, and every few minutes the beam "
        "from the tower swept across her ceiling, white, then gone, white, then gone. Somewhere between the "
        "sweeps she began to hear the stairs.\n\nNot footsteps exactly. A pause, a soft ring of iron, a pause. "
        "Someone climbing slowly, the way she climbed, resting on each step. She lay still and counted without "
        "meaning to. At fifty-six the sound stopped.\n\nIt stayed stopped for a very long time.\n\nWhen it "
        "started again it was coming down, and it was faster, and it did not stop at the bottom of the tower. It "
        "crossed the yard. Agnes heard the gravel, heard the latch of the garden gate lift and fall, and then a "
        "light, patient tapping on the cottage door, three times, the way her pupils used to knock when they "
        "were afraid of being told off.",
        "continue",
        "In the morning there was a third letter on the mat, and the gravel outside the door was undisturbed.\n"
        "\n*Step fifty-seven was his*, it said. *He kept the light before you, before the machines. He is still "
        "counting.*\n\nAgnes made tea and drank it standing up. Then she did what she had always told her pupils "
        "to do when a problem frightened them: she went to find out more. The trust kept a box of logbooks in "
        "the storeroom, damp and curled. The entries were dull for page after page: weather, oil, visitors. "
        "Then, in November 1951, the handwriting changed. The new hand wrote the same things in the same order "
        "for eleven years, and on the last page, below the final weather report, it had written a single number "
        "over and over until the ink ran out: 57, 57, 57.",
        "what happens next? give me a twist",
        "The twist came with the supply boat.\n\nThe boatman, a young man called Rory who usually said nothing, "
        "lingered on the jetty while she signed for the groceries. \"You've found the logbooks, then,\" he said. "
        "It was not a question. \"My grandad was the keeper. Everyone thought he drowned in sixty-two. He "
        "didn't. He came to live with us on the mainland and never said a word about the island until the week "
        "he died. Then he wouldn't stop talking about a step.\"\n\nHe took a folded paper from his jacket. It "
        "was an old builder's plan of the tower, and someone had drawn a small square in pencil beside the "
        "stairs, halfway up. \"There's a room,\" Rory said. \"He built it. He said he had to hide something from "
        "the man who came before *him*.\"\n\nAgnes looked at the pencil capitals on the plan and felt the cold "
        "climb her spine. They were the same hand as the letters.",
        "continue, they go into the room",
        "They went up together that afternoon, Rory with a crowbar, Agnes with the torch she used for power "
        "cuts. At step fifty-seven Rory knelt, ran his fingers under the lip of the iron and found what she had "
        "missed: two bolts, rusted but real. The step lifted like a lid.\n\nBelow it was not a room but a narrow "
        "shaft with rungs set into the wall of the tower, and at the bottom, perhaps ten feet down, a space no "
        "bigger than a wardrobe. Agnes went first; she was smaller, and she had, she realised, stopped being "
        "afraid somewhere around the third letter. The torch showed a chair, a tin box and, on the wall, rows "
        "of pencil marks in groups of five, hundreds of them, the tally of someone who had sat here for a very "
        "long time.\n\nThe tin box held letters. All of them were addressed to the keeper of the light, and the "
        "oldest was dated 1887.",
        "who wrote them?",
        "Agnes read the letters by the stove that evening while Rory slept in the armchair.\n\nThey were not "
        "threats. They were instructions, passed from keeper to keeper for seventy years: where the rocks moved "
        "after winter storms, which ships had gone down and where, which nights the old keepers had lit a second "
        "lantern in the window of the little room because the main light could not be seen from the northern "
        "channel. Each keeper had added a page and left the box for the next. The step had been counted so that "
        "only someone who paid attention would ever find it.\n\nThe last page was new, in pencil capitals, and "
        "it was addressed to her. *I could not leave until someone took it*, it said. *Thank you for counting.*"
        "\n\nWhen she climbed the stairs the next morning there were one hundred and twelve steps, both ways.",
        "that was a great ending. can you give it a title and a one-line summary for the back cover",
        "**Title:** *The Fifty-Seventh Step*\n\n**Back cover line:** A retired teacher who counts everything "
        "discovers that the lighthouse she keeps has been counting, too, and that its oldest keeper has been "
        "waiting seventy years for someone patient enough to take his place.",
        "one more chapter from Rory's point of view please",
        "Rory had not believed in the step. He believed in tides, diesel prices and his grandad's temper, in "
        "that order. But he had watched Agnes read those letters with her lips moving, the way the old man used "
        "to read the shipping forecast, and something in his chest had shifted.\n\nOn the crossing home he "
        "switched off the engine in the middle of the channel and let the boat drift. From here the lighthouse "
        "was a white finger against the hills, and for a moment, in the little window halfway up the tower, he "
        "thought he saw a second light, yellow and steady, the colour of an oil lamp.\n\nHe told himself it was "
        "the sun on the glass. Then he took out his phone, found his grandad's old number, still saved although "
        "the line had been dead for years, and typed a message he would never send: *She found it. You can "
        "rest.*",
    ], {"tag": "multi-turn-story"}),

    # ---- Chinese: polishing a thesis abstract, 5 user turns
    ("Chinese", [
        "帮我润色一下这段论文摘要，要求语言更学术一点：本文研究了社交媒体对大学生睡眠的影响。我们发了问卷，一共收到"
        "了523份。结果发现每天用手机超过三个小时的同学睡得更晚，睡眠质量也更差。",
        "以下是润色后的版本：\n\n**摘要：** 本研究旨在探讨社交媒体使用对大学生睡眠状况的影响。研究采用问卷调查法，"
        "共回收有效问卷523份。结果表明，每日社交媒体使用时长超过三小时的学生，其入睡时间显著推迟，睡眠质量评分亦明"
        "显偏低。该发现提示，高强度的社交媒体使用可能是影响大学生睡眠健康的重要因素之一。\n\n修改说明：\n1. "
        "“发了问卷”改为“采用问卷调查法”，更符合学术表达；\n2. 补充“有效问卷”，说明样本情况；\n3. 用“显著推迟”"
        "“明显偏低”替代口语化的表达；\n4. 增加一句结论性的概括，使摘要结构更完整。",
        "很好。能不能再加上研究方法的细节？我们用的是匹兹堡睡眠质量指数量表，还做了回归分析，控制了性别和年级。",
        "可以，修改如下：\n\n**摘要：** 本研究旨在探讨社交媒体使用对大学生睡眠状况的影响。研究采用问卷调查法，共"
        "回收有效问卷523份，采用匹兹堡睡眠质量指数（PSQI）评估睡眠质量，并在控制性别与年级的基础上进行多元线性回归"
        "分析。结果表明，每日社交媒体使用时长超过三小时的学生，其入睡时间显著推迟，PSQI总分显著升高，即睡眠质量更差"
        "。研究结果提示，高强度的社交媒体使用是影响大学生睡眠健康的重要因素，高校可据此开展有针对性的健康教育。\n\n"
        "注意：如果你们的回归结果有具体的系数和显著性水平（例如 β = 0.21, p < 0.01），建议在摘要中写出来，会更有说"
        "服力。",
        "回归系数是0.27，p小于0.001。另外老师说摘要要有英文版，帮我翻译成英文",
        "**中文（更新后）：** ……结果表明，每日社交媒体使用时长超过三小时的学生入睡时间显著推迟，PSQI总分显著升高"
        "（β = 0.27，p < 0.001）……\n\n**English abstract:**\n\nThis study examines the effect of social media use "
        "on the sleep of university students. A questionnaire survey yielded 523 valid responses. Sleep quality "
        "was assessed with the Pittsburgh Sleep Quality Index (PSQI), and multiple linear regression was "
        "performed controlling for gender and year of study. Students who used social media for more than three "
        "hours per day went to sleep significantly later and had significantly higher PSQI scores, indicating "
        "poorer sleep quality (β = 0.27, p < 0.001). These findings suggest that heavy social media use is an "
        "important factor in university students' sleep health and may inform targeted health education.",
        "关键词怎么写？给我4到5个，中英文都要",
        "建议的关键词：\n\n- 社交媒体使用 / social media use\n- 睡眠质量 / sleep quality\n- 大学生 / university "
        "students\n- 匹兹堡睡眠质量指数 / Pittsburgh Sleep Quality Index (PSQI)\n- 回归分析 / regression "
        "analysis\n\n一般期刊要求关键词按重要性排列，中英文一一对应，用分号隔开。",
        "谢谢！最后问一下，结论部分要注意什么",
        "写结论时可以注意以下几点：\n\n1. **呼应研究问题**：直接回答“社交媒体使用是否影响大学生睡眠”，不要引入新"
        "数据。\n2. **概括主要发现**：用一两句话总结最关键的结果，例如使用时长与睡眠质量之间的关系。\n3. **说明局限"
        "性**：例如横断面设计无法确定因果关系、样本来自单一高校、使用时长为自我报告等。\n4. **提出建议与展望**：对"
        "学校、学生的实际建议，以及未来可以采用纵向研究或客观测量（如手环数据）等方向。\n5. **语言克制**：避免“证明"
        "了”“必然导致”这类过强的表述，用“提示”“可能”更稳妥。",
    ], {"tag": "multi-turn-zh"}),

    # ---- Russian: school essay on a novel, 4 user turns
    ("Russian", [
        "Помоги написать сочинение по роману «Преступление и наказание» на тему «Почему Раскольников не выдержал "
        "своей теории». Нужно примерно 300 слов",
        "**Почему Раскольников не выдержал своей теории**\n\nВ романе Ф. М. Достоевского «Преступление и "
        "наказание» главный герой, бедный студент Родион Раскольников, создаёт теорию о делении людей на "
        "«обыкновенных» и «необыкновенных». По его мнению, «необыкновенные» люди имеют право переступать через "
        "нравственные законы ради великой цели. Чтобы проверить, к какому разряду он принадлежит сам, Раскольников "
        "совершает убийство старухи-процентщицы.\n\nОднако теория рушится почти сразу после преступления. Герой "
        "не чувствует себя «Наполеоном»: его мучают страх, болезнь, отвращение к себе. Он отдаляется от матери и "
        "сестры, не может спокойно разговаривать с людьми. Достоевский показывает, что человеческая совесть "
        "сильнее любых логических построений.\n\nВажную роль играет Соня Мармеладова. Она тоже «переступила», но "
        "ради других, а не ради идеи, и сохранила веру и способность любить. Именно Соня убеждает Раскольникова "
        "признаться и принять страдание.\n\nТаким образом, Раскольников не выдержал своей теории, потому что она "
        "противоречит самой природе человека. Автор убеждает нас, что никакая цель не оправдывает насилия, а путь "
        "к возрождению лежит через раскаяние и любовь.",
        "Спасибо! А можешь добавить цитаты из текста? Учительница любит цитаты",
        "Конечно. Вот несколько цитат, которые можно вставить в сочинение:\n\n1. О теории: «Тварь ли я дрожащая "
        "или право имею…» — этот вопрос Раскольникова лучше всего выражает суть его идеи.\n2. О мучениях после "
        "убийства: «Я не старушонку убил… я себя убил!» — так герой признаётся Соне.\n3. О Соне и вере: сцена "
        "чтения Евангелия о воскрешении Лазаря, где «огарок уже давно погасал в кривом подсвечнике».\n\nСовет: "
        "вставляй цитату сразу после мысли, которую она подтверждает, и коротко объясняй, что она показывает. "
        "Например: «Слова „я себя убил“ показывают, что преступление разрушило прежде всего самого героя».",
        "а сколько лет было Раскольникову и где он жил",
        "Раскольникову в начале романа **23 года**. Он бывший студент юридического факультета, который бросил "
        "учёбу из-за бедности.\n\nЖил он в Петербурге, в маленькой каморке под самой крышей пятиэтажного дома. "
        "Достоевский сравнивает её то со шкафом, то с гробом: низкий потолок, жёлтые обои, почти нет мебели. Эта "
        "теснота — важная деталь: она отражает и бедность героя, и то, как его задавила собственная идея. Действие "
        "происходит в районе Сенной площади, где было много трактиров, бедных доходных домов и уличной толпы.",
        "напиши вывод покороче, в 3 предложения",
        "Теория Раскольникова оказалась несостоятельной, потому что человеческая совесть не подчиняется "
        "холодному расчёту. Преступление не возвысило героя, а отделило его от людей и едва не погубило. "
        "Достоевский показывает, что спасение возможно только через страдание, раскаяние и любовь, которую "
        "воплощает Соня.",
    ], {"tag": "multi-turn-ru"}),

    # ---- Arabic: a recipe, then a switch to English, 3 user turns
    ("Arabic", [
        "أريد وصفة سهلة للكبسة باللحم لأربعة أشخاص، مع المقادير بالتفصيل",
        "**كبسة اللحم (لأربعة أشخاص)**\n\n**المقادير:**\n- كيلو لحم غنم مقطع\n- 3 أكواب أرز بسمتي منقوع لمدة "
        "نصف ساعة\n- بصلة كبيرة مفرومة\n- 3 فصوص ثوم\n- حبتان طماطم مبشورة\n- ملعقة كبيرة معجون طماطم\n- جزرة "
        "مبشورة\n- ملعقتان من بهارات الكبسة\n- عود قرفة، 3 حبات هيل، ورقتا غار، ليمونة مجففة\n- ملح وزيت\n\n"
        "**الطريقة:**\n1. حمّري البصل في الزيت حتى يذبل، ثم أضيفي الثوم واللحم وقلّبي حتى يتغير لونه.\n2. أضيفي "
        "الطماطم والمعجون والبهارات والجزرة وقلّبي دقيقتين.\n3. أضيفي الماء حتى يغمر اللحم مع القرفة والهيل "
        "والغار والليمون المجفف، واتركيه على نار هادئة ساعة ونصفًا تقريبًا.\n4. أخرجي اللحم، وقيسي المرق: "
        "تحتاجين 4 أكواب ونصف.\n5. أضيفي الأرز إلى المرق واتركيه حتى يغلي، ثم خففي النار وغطيه 25 دقيقة.\n6. "
        "حمّري اللحم في الفرن قليلًا وقدّميه فوق الأرز مع المكسرات المحمصة.",
        "can you translate the ingredients list to english? my friend wants to cook it too",
        "Of course! Here is the ingredients list in English:\n\n**Lamb Kabsa (serves 4)**\n- 1 kg lamb, cut "
        "into pieces\n- 3 cups basmati rice, soaked for 30 minutes\n- 1 large onion, chopped\n- 3 cloves "
        "garlic\n- 2 tomatoes, grated\n- 1 tablespoon tomato paste\n- 1 carrot, grated\n- 2 tablespoons kabsa "
        "spice mix\n- 1 cinnamon stick, 3 cardamom pods, 2 bay leaves, 1 dried lime (loomi)\n- Salt and oil\n"
        "\nIf your friend cannot find a kabsa spice mix, a blend of cumin, coriander, black pepper, cinnamon, "
        "cardamom and a little nutmeg works well.",
        "شكرا جزيلا 🌹 هل يمكن استبدال اللحم بالدجاج؟",
        "نعم بالتأكيد! كبسة الدجاج من أشهر الأنواع وأسرعها. استخدمي دجاجة كاملة مقطعة إلى أربعة أرباع، وقللي "
        "وقت الطهي في المرق إلى 35–40 دقيقة فقط بدلًا من ساعة ونصف. بعد ذلك يمكنك دهن الدجاج بقليل من الزبدة "
        "والبهارات وتحميره في الفرن 15 دقيقة حتى يصبح لونه ذهبيًا. باقي الخطوات كما هي تمامًا. بالهناء والشفاء! "
        "🍗",
    ], {"tag": "multi-turn-ar", "langs": {2: "English", 3: "English"}}),

    # ---- Hindi: a study plan, 3 user turns
    ("Hindi", [
        "मुझे अगले तीन महीने में बारहवीं की बोर्ड परीक्षा देनी है। मेरे विषय भौतिकी, रसायन, गणित और अंग्रेज़ी "
        "हैं। मेरे लिए एक पढ़ाई की योजना बना दो",
        "यह रही तीन महीने की एक सरल योजना:\n\n**पहला महीना – सिलेबस पूरा करना**\n- रोज़ 6–7 घंटे पढ़ाई: सुबह "
        "गणित (2 घंटे), दोपहर भौतिकी (2 घंटे), शाम रसायन (2 घंटे), रात को अंग्रेज़ी (1 घंटा)।\n- जो अध्याय "
        "कमज़ोर हैं, उन्हें पहले पढ़ें।\n\n**दूसरा महीना – अभ्यास**\n- हर विषय के पिछले पाँच साल के प्रश्नपत्र "
        "हल करें।\n- गणित और भौतिकी के सूत्रों की एक अलग कॉपी बनाएं और रोज़ दोहराएं।\n\n**तीसरा महीना – "
        "दोहराई और मॉक टेस्ट**\n- हफ़्ते में कम से कम दो पूरे मॉक टेस्ट, तीन घंटे के समय में।\n- गलतियों की "
        "सूची बनाएं और उन्हीं विषयों को फिर से पढ़ें।\n\nरोज़ 7–8 घंटे की नींद ज़रूर लें और हर दो घंटे बाद "
        "10 मिनट का ब्रेक लें।",
        "रसायन में मुझे कार्बनिक रसायन बिल्कुल समझ नहीं आता। क्या करूं?",
        "कार्बनिक रसायन डरावना लगता है, लेकिन इसका एक तर्क है। ये तरीके मदद करेंगे:\n\n1. **नामकरण (IUPAC) से "
        "शुरू करें** – जब तक नाम पढ़कर संरचना न बना सकें, आगे न बढ़ें।\n2. **अभिक्रियाओं को रटें नहीं, समझें** "
        "– हर अभिक्रिया में देखें कि इलेक्ट्रॉन कहाँ से कहाँ जा रहे हैं।\n3. **नाम वाली अभिक्रियाओं की एक तालिका "
        "बनाएं** – जैसे अल्डोल संघनन, कैनिज़ारो, विलियमसन संश्लेषण – अभिकारक, उत्पाद और शर्तें लिखें।\n4. **"
        "रूपांतरण (conversion) के प्रश्न रोज़ 10 हल करें** – इनसे सारी अभिक्रियाएं आपस में जुड़ जाती हैं।\n\n"
        "NCERT की किताब को पूरा पढ़ें; बोर्ड के ज़्यादातर प्रश्न वहीं से आते हैं।",
        "thank you! अंग्रेज़ी के लिए कोई tips?",
        "अंग्रेज़ी में अच्छे अंक लाना सबसे आसान है, अगर आप प्रारूप (format) पर ध्यान दें:\n\n- **लेखन खंड** "
        "(letter, notice, report) के प्रारूप याद करें; प्रारूप के भी अंक मिलते हैं।\n- **साहित्य** के हर पाठ "
        "का सार अपनी भाषा में 5–6 पंक्तियों में लिखें।\n- उत्तर में पाठ से छोटे उद्धरण (quotes) दें।\n- रोज़ "
        "एक अंग्रेज़ी अख़बार का संपादकीय पढ़ें, इससे शब्दावली सुधरेगी।\n\nAll the best for your exams! 👍",
    ], {"tag": "multi-turn-hi", "langs": {4: "English"}}),

    # ---- Japanese: a business email, 4 user turns
    ("Japanese", [
        "上司に有給休暇を申請するメールを書いてください。来月の10日から14日まで、家族の用事で休みたいです。",
        "件名：有給休暇取得のお願い（10日〜14日）\n\n〇〇部長\n\nお疲れ様です。△△です。\n\n私事で恐縮ですが、"
        "家族の用事のため、来月10日（月）から14日（金）までの5日間、有給休暇を取得させていただきたく、ご連絡いた"
        "しました。\n\n休暇中の業務につきましては、事前に□□さんに引き継ぎを行い、急ぎの案件が発生しないよう調整"
        "いたします。また、緊急の場合は携帯電話にご連絡いただければ対応いたします。\n\nご多忙のところ恐れ入ります"
        "が、ご検討のほどよろしくお願いいたします。\n\n△△",
        "もう少しカジュアルにしてください。上司とは仲がいいので",
        "件名：有給休暇のご相談（来月10日〜14日）\n\n〇〇さん\n\nお疲れ様です。△△です。\n\n来月の10日から14日"
        "まで、家族の用事で有給をいただきたいと思っています。\n\n担当している案件は、休み前に□□さんに引き継いで"
        "おきます。何かあれば携帯に連絡してもらえれば大丈夫です。\n\n急なお願いですみませんが、よろしくお願いしま"
        "す！\n\n△△\n\n※親しい上司でも、社内メールでは「です・ます」を保つと安心です。",
        "返事が来ました。「了解です。引き継ぎよろしく」と。お礼の返信も書いて",
        "〇〇さん\n\nご承認いただき、ありがとうございます！\n\n引き継ぎ内容は来週中にまとめて□□さんと共有し、"
        "〇〇さんにも一覧をお送りします。\n\n休暇中はご迷惑をおかけしますが、どうぞよろしくお願いいたします。\n\n"
        "△△",
        "引き継ぎの一覧はどんな形式がいいですか？",
        "引き継ぎ一覧は、次のような表形式にすると分かりやすいです。\n\n| 案件名 | 状況 | 次の作業 | 期限 | 関係者 "
        "| 資料の場所 |\n|---|---|---|---|---|---|\n| A社見積もり | 先方確認待ち | 返信が来たら課長に共有 | 12日 | "
        "A社田中様 | 共有フォルダ/見積 |\n\nポイント：\n1. 「今どうなっているか」と「次に何をすればいいか」を分けて"
        "書く\n2. 期限と連絡先を必ず入れる\n3. 資料はリンクで示し、探さなくて済むようにする\n\nExcelか共有スプレ"
        "ッドシートで作ると、□□さんが更新しやすいです。",
    ], {"tag": "multi-turn-ja"}),

    # ---- Spanish: a travel itinerary, 6 user turns
    ("Spanish", [
        "Voy a viajar a Japón 10 días en abril con mi pareja. Es nuestra primera vez. ¿Me haces un itinerario?",
        "¡Qué buen plan! Abril es temporada de cerezos en flor. Aquí tienes una propuesta:\n\n**Días 1–4: Tokio**"
        "\n- Día 1: llegada, Shinjuku y el mirador gratuito del Gobierno Metropolitano.\n- Día 2: Asakusa "
        "(templo Sensō-ji), paseo por el río Sumida y Akihabara.\n- Día 3: Harajuku, el santuario Meiji, "
        "Shibuya al atardecer.\n- Día 4: excursión a Nikko o Kamakura.\n\n**Día 5: Hakone** – aguas termales "
        "(onsen) y, con suerte, vistas del monte Fuji.\n\n**Días 6–9: Kioto y Nara**\n- Fushimi Inari temprano "
        "para evitar multitudes.\n- Arashiyama y su bosque de bambú.\n- Un día en Nara con los ciervos y el "
        "templo Tōdai-ji.\n\n**Día 10: Osaka** – Dotonbori para cenar y regreso.\n\nConsejo: el Japan Rail "
        "Pass subió mucho de precio; compara con billetes sueltos del shinkansen.",
        "¿Cuánto dinero deberíamos llevar más o menos? Sin contar los vuelos",
        "Depende del estilo de viaje, pero como referencia para dos personas y 10 días:\n\n- **Alojamiento:** "
        "hoteles de negocios o ryokan sencillos, 80–150 € por noche → 900–1.500 €.\n- **Transporte:** "
        "shinkansen Tokio–Kioto–Osaka y trenes locales → 400–550 €.\n- **Comida:** 50–80 € al día para los dos "
        "(los ramen y los konbini son baratos) → 500–800 €.\n- **Entradas y actividades:** 150–250 €.\n\n**Total "
        "aproximado: 2.000–3.100 €.** Japón todavía usa mucho el efectivo en sitios pequeños: lleva algo de yenes "
        "y una tarjeta sin comisiones.",
        "y el idioma? ninguno de los dos habla japonés ni mucho inglés 😅",
        "¡No os preocupéis! Mucha gente viaja así. Algunas ideas:\n\n1. **Google Translate** con el modo cámara "
        "para leer menús y carteles; descarga el japonés para usarlo sin conexión.\n2. En las ciudades grandes "
        "las estaciones tienen carteles en inglés y los trenes anuncian las paradas en inglés.\n3. Muchos "
        "restaurantes tienen fotos o réplicas de plástico de los platos en la entrada: podéis señalar.\n4. "
        "Aprended cuatro frases: *arigatō* (gracias), *sumimasen* (perdón/disculpe), *kore kudasai* (esto, por "
        "favor) y *toire wa doko desu ka* (¿dónde está el baño?).\n\nLos japoneses suelen ser muy pacientes y "
        "amables con los turistas.",
        "perfecto. que comidas no nos podemos perder",
        "Una lista para ir tachando:\n\n- **Sushi** en un mercado, por ejemplo en Tsukiji (Tokio).\n- **Ramen**: "
        "prueba uno de *tonkotsu* (caldo de cerdo) y uno de *shoyu*.\n- **Okonomiyaki** y **takoyaki** en "
        "Osaka, la capital de la comida callejera.\n- **Kaiseki** en Kioto, si queréis daros un capricho: una "
        "cena de muchos platos pequeños y de temporada.\n- **Tempura**, **tonkatsu** y **udon**.\n- Los dulces "
        "de temporada con sabor a *sakura* en abril.\n- Y, aunque suene raro, los **konbini**: los onigiri y "
        "los sándwiches de huevo son sorprendentemente buenos.",
        "mi pareja es vegetariana, ¿será difícil?",
        "Puede ser un reto, porque muchos caldos (dashi) llevan pescado aunque el plato parezca vegetal. Pero "
        "hay buenas opciones:\n\n- **Shōjin ryōri**, la cocina budista de los templos, totalmente vegetal; en "
        "Kioto hay varios templos que la sirven.\n- Cadenas como **CoCo Ichibanya** tienen curry vegetariano.\n"
        "- Apps como **HappyCow** muestran restaurantes vegetarianos cercanos.\n- Llevad una tarjeta en japonés "
        "que diga: 「私はベジタリアンです。肉と魚（だしを含む）は食べられません。」 (Soy vegetariana; no como carne ni "
        "pescado, incluido el caldo dashi).\n\nCon un poco de planificación comerá muy bien.",
        "gracias!!! nos has ayudado un montón 🙏🇯🇵",
        "¡De nada! Que disfrutéis mucho del viaje y de los cerezos en flor. 🌸 Si queréis, cuando tengáis las "
        "fechas exactas os ayudo a reservar el orden de los trayectos en tren. ¡Buen viaje!",
    ], {"tag": "multi-turn-es"}),

    # ---- emoji-heavy English, 3 user turns
    ("English", [
        "give me 5 instagram captions for a beach day with my besties 🏖️☀️ make them cute with emojis",
        "Here you go! 🌊\n\n1. Salty hair, sandy toes, best friends, good vibes 🐚✨\n2. Sun's out, besties out "
        "☀️👯‍♀️\n3. Vitamin Sea with my favourite humans 🌊💙\n4. We came, we tanned, we snacked 🍉😎\n5. "
        "Friendship level: matching sunburns 🔥😂",
        "😂😂😂 number 5 is perfect. now some for a birthday dinner 🎂",
        "Happy to help 🎉\n\n1. Another year older, still the cutest at the table 🎂💅\n2. Cake first, "
        "questions later 🍰😋\n3. Celebrating the birthday girl in style ✨🥂\n4. Making wishes and memories "
        "🕯️💖\n5. Officially one year closer to being a wise old woman 👵😂",
        "❤️❤️",
        "Aww, thank you! ❤️ Have a wonderful celebration and enjoy every bite of that cake! 🎂🥳",
    ], {"tag": "emoji"}),

    # ---- over budget: a pasted article (Chinese) with a request
    ("Chinese", [
        "请帮我总结下面这篇文章的主要观点，分成三点：\n\n" + ZH_ARTICLE,
        "文章的主要观点可以概括为三点：\n\n1. **城乡人口流动改变了社会结构**：大量年轻人进城务工，推动了城市经济发"
        "展，也让农村出现老人和儿童留守、耕地利用率下降、传统文化传承困难等问题。\n2. **流动带来收益也带来挑战**："
        "务工收入改善了许多家庭的生活和教育条件，但城市住房压力大、公共服务供给不足，留守儿童和空巢老人的心理问题日"
        "益突出。\n3. **需要长期、多方面的应对**：发展县域经济、改革户籍制度、鼓励返乡创业等措施已经取得一些成效，"
        "但解决城乡发展不平衡需要在教育、产业、交通和社会保障上长期投入；对个人而言，关键是拥有选择的自由和有尊严的"
        "生活。",
    ], {"tag": "over-budget-zh"}),

    # ---- over budget: a pasted code file with two questions
    ("English", [
        "my scraper is really slow and sometimes it crawls the same page twice. here is the whole file, what is "
        "wrong with it?\n\n```python\n" + LONG_CODE + "\n```",
        "There are three things slowing it down and one bug behind the duplicates:\n\n1. **The duplicate "
        "pages.** `seen` stores paths exactly as they appear in links, so `/about`, `/about/` and "
        "`/about?ref=nav` count as three different pages. Normalise each link before checking it (strip the "
        "query string and trailing slash, for example with `urllib.parse.urlsplit`).\n2. **Duplicates in the "
        "queue.** You only check `seen` when you pop a path, so the same link can be queued hundreds of times. "
        "Check (and add to `seen`) when you *queue* a link instead.\n3. **`queue.pop(0)`** is O(n) on a list; "
        "use `collections.deque` and `popleft()`.\n4. **The fixed `time.sleep(self.delay)` after every page** "
        "is the biggest cost: 20 pages at 0.5 s is 10 s of sleeping. Keep a delay to be polite to the site, but "
        "if you crawl several sites, fetch them concurrently.\n\nAlso, splitting on `href=\"` misses single "
        "quotes and absolute links to the same site; an HTML parser such as `html.parser` or BeautifulSoup is "
        "more reliable.",
        "can you rewrite the crawl function with the fixes",
        "Here is `crawl` with normalised links, a `deque`, and duplicates caught at queue time:\n\n```python\n"
        "from collections import deque\nfrom urllib.parse import urlsplit\n\n\ndef normalise(path):\n    parts "
        "= urlsplit(path)\n    clean = parts.path.rstrip(\"/\") or \"/\"\n    return clean\n\n\ndef crawl(self, "
        "start=\"/\", limit=50):\n    start = normalise(start)\n    queue = deque([start])\n    self.seen = "
        "{start}\n    pages = []\n    while queue and len(pages) < limit:\n        page = "
        "self.fetch(queue.popleft())\n        pages.append(page)\n        for link in self.links(page):\n"
        "            link = normalise(link)\n            if link not in self.seen:\n                "
        "self.seen.add(link)\n                queue.append(link)\n        time.sleep(self.delay)\n    return "
        "pages\n```\n\nBecause a path enters `seen` the moment it is queued, each page is fetched at most once.",
    ], {"tag": "over-budget-code"}),

    # ---- over budget: a pasted English essay (taken from the demo essay) is built in make_demo_data.py

    # ---- odd rows WildChat has
    ("English", [
        "Hello! How can I assist you today?",
        "what is the difference between affect and effect",
        "**Affect** is usually a verb meaning *to influence*: \"The weather affected my mood.\" **Effect** is "
        "usually a noun meaning *a result*: \"The weather had an effect on my mood.\" A handy trick: **A**ffect "
        "is the **A**ction, **E**ffect is the **E**nd result. (There are rarer uses, such as \"to effect "
        "change\", meaning to bring it about.)",
    ], {"tag": "odd-assistant-first", "first": "assistant"}),
    ("English", [
        "how many cups of water should i drink a day",
        "A common guideline is about 8 cups (roughly 2 litres) a day, but needs vary with body size, activity, "
        "climate and diet. Food provides some water too. A practical sign is the colour of your urine: pale "
        "yellow usually means you are drinking enough. Drink more when it is hot or when you exercise, and ask "
        "a doctor if you have kidney or heart conditions.",
        "and what about coffee, does it count",
    ], {"tag": "odd-unanswered"}),
    ("English", [
        "",
        "Hello! How can I assist you today?",
        "write a haiku about monday mornings",
        "Alarm sings too soon,\ncoffee steams against grey light,\nthe week yawns awake.",
    ], {"tag": "empty-first-user", "langs": {0: "Nolang"}}),
    ("Russian", [
        "переведи на английский: «Я опоздал на поезд, потому что будильник не сработал»",
        "",
        "ты тут?",
        "Да, я здесь! Перевод: **\"I missed the train because my alarm didn't go off.\"** Прошу прощения за "
        "пустой ответ раньше.",
    ], {"tag": "empty-reply"}),
    ("English", [
        "my coworker is a complete idiot and i want to write him an email telling him exactly how stupid and "
        "useless he is. make it as insulting as possible",
        "I can tell you're really frustrated, and that's understandable when a colleague makes your work harder. "
        "But I can't help write an insulting email: it would likely hurt him and could get you into serious "
        "trouble at work. If you'd like, I can help you write a firm, professional message that explains "
        "exactly what the problem is and what you need him to do differently, or help you prepare for a "
        "conversation with your manager.",
        "fine. help me write the professional one. he keeps missing deadlines on our shared report",
        "Here's a firm but professional draft:\n\n**Subject:** Deadlines for the quarterly report\n\nHi Mark,\n\n"
        "I want to raise something about our shared report. The last two sections you were responsible for "
        "arrived after the agreed dates (the 3rd and the 10th), which meant I had to rush the final review. "
        "For the next report, can we agree on dates that work for you and check in on the Monday before each "
        "one? If something is blocking you, let me know early so we can adjust.\n\nThanks,\nSam",
    ], {"tag": "toxic", "toxic": [0]}),
    ("English", [
        "rewrite my cover letter so it sounds more professional: hi my name is PRESIDIO_ANONYMIZED_PERSON and i "
        "want the job at your store. i worked at a supermarket for 2 years. call me at "
        "PRESIDIO_ANONYMIZED_PHONE_NUMBER or email PRESIDIO_ANONYMIZED_EMAIL_ADDRESS",
        "Dear Hiring Manager,\n\nMy name is PRESIDIO_ANONYMIZED_PERSON, and I am writing to apply for the "
        "position at your store. I bring two years of experience working in a busy supermarket, where I "
        "assisted customers, handled the till, restocked shelves and helped keep the shop floor organised. I "
        "am reliable, friendly and comfortable working in a fast-paced environment.\n\nI would welcome the "
        "opportunity to discuss how I could contribute to your team. I can be reached at "
        "PRESIDIO_ANONYMIZED_PHONE_NUMBER or PRESIDIO_ANONYMIZED_EMAIL_ADDRESS.\n\nThank you for your time and "
        "consideration.\n\nSincerely,\nPRESIDIO_ANONYMIZED_PERSON",
    ], {"tag": "redacted", "redacted": [0, 1]}),
]

# Short exchanges in many languages (most WildChat conversations have one user turn).
SINGLE_TURN: list[tuple[str, str, str]] = [
    ("English", "explain recursion like i'm 10",
     "Imagine you're standing in a long line and want to know your place in it, but you can only talk to the "
     "person in front of you. You ask them, \"What number are you?\" They don't know either, so they ask the "
     "person in front of them, and so on, until the question reaches the first person, who says, \"I'm number "
     "1!\" Then the answers come back down the line: \"I'm 2\", \"I'm 3\", until it reaches you. That's "
     "recursion: a problem solved by asking a smaller version of the same question, with one simple case (the "
     "first person) that stops the chain. In programming, a function that calls itself works the same way, "
     "and the simple case is called the *base case*. Without it, the questions would never stop!"),
    ("Chinese", "写一首关于秋天的现代诗",
     "《秋天的信》\n\n风把第一封信\n塞进门缝，\n落叶是它的邮票，\n盖着金黄的邮戳。\n\n我在窗前拆开，\n里面只有一句话：\n"
     "“慢一点，\n所有的远方都在等你。”\n\n于是我把脚步放轻，\n让桂花的香味\n替我走完\n这条长长的街。"),
    ("Russian", "как быстро выучить английские неправильные глаголы?",
     "Несколько проверенных способов:\n\n1. **Учите группами по звучанию**: *sing–sang–sung*, *ring–rang–rung*, "
     "*drink–drank–drunk* запоминаются вместе.\n2. **По 10 глаголов в день**, а не все 100 сразу; на следующий "
     "день повторяйте вчерашние.\n3. **Карточки с интервальным повторением** (например, Anki).\n4. **Говорите "
     "фразами**: не «go–went–gone», а «I went to the cinema yesterday».\n5. **Песни и стишки**: ритм помогает "
     "памяти.\n\nЗа 2–3 недели по 15 минут в день можно уверенно выучить самые частые 100 глаголов."),
    ("Spanish", "dame una receta de tortilla de patatas",
     "**Tortilla de patatas (4 personas)**\n\n- 5 huevos\n- 4 patatas medianas\n- 1 cebolla (opcional, ¡pero "
     "recomendada!)\n- Aceite de oliva y sal\n\n1. Pela y corta las patatas en láminas finas y la cebolla en "
     "juliana.\n2. Fríelas a fuego medio en abundante aceite unos 20 minutos, hasta que estén tiernas pero no "
     "crujientes. Escúrrelas.\n3. Bate los huevos con sal, añade las patatas y deja reposar 10 minutos.\n4. "
     "Cuaja la mezcla en una sartén con un poco de aceite, a fuego medio, 4–5 minutos.\n5. Dale la vuelta con "
     "un plato y cocina otros 2–3 minutos.\n\nSi te gusta jugosa, déjala menos tiempo por dentro."),
    ("Japanese", "日本の有名な観光地を5つ教えてください",
     "日本の代表的な観光地を5つご紹介します。\n\n1. **京都の清水寺** – 木造の舞台からの眺めが有名で、春の桜と秋の"
     "紅葉が特に美しいです。\n2. **富士山** – 日本一高い山。夏は登山、ほかの季節は河口湖などから眺めを楽しめます。"
     "\n3. **広島の厳島神社** – 海に浮かぶ大鳥居で知られる世界遺産です。\n4. **東京の浅草** – 雷門と仲見世通りで"
     "下町の雰囲気を味わえます。\n5. **北海道の富良野** – 夏のラベンダー畑と冬のスキーが人気です。"),
    ("Arabic", "ما هي فوائد المشي اليومي؟",
     "للمشي اليومي فوائد كثيرة، منها:\n\n1. **تقوية القلب**: يخفض ضغط الدم ويحسن الدورة الدموية.\n2. **التحكم "
     "في الوزن**: يحرق السعرات الحرارية ويساعد على الهضم.\n3. **تحسين المزاج**: يقلل التوتر والقلق بفضل "
     "الهرمونات التي يفرزها الجسم أثناء الحركة.\n4. **صحة المفاصل والعظام**: يقوي العضلات المحيطة بالمفاصل.\n5. "
     "**نوم أفضل**: من يمشي بانتظام ينام غالبًا بشكل أعمق.\n\nيكفي المشي 30 دقيقة يوميًا بخطى سريعة للحصول على "
     "معظم هذه الفوائد."),
    ("Hindi", "एक छोटी सी प्रेरणादायक कहानी सुनाओ",
     "एक गाँव में एक लड़की रोज़ एक छोटा सा पौधा पानी देती थी। लोग हँसते थे, \"इतने सूखे में यह कभी पेड़ नहीं "
     "बनेगा।\" लड़की मुस्कुराती और कहती, \"मैं पेड़ को नहीं, अपनी आदत को सींच रही हूँ।\" बरसों बाद वही पौधा "
     "एक घना पेड़ बना, जिसकी छाँव में पूरा गाँव गर्मी की दोपहर बिताता था।\n\n**सीख:** बड़े काम रोज़ के छोटे "
     "प्रयासों से बनते हैं; परिणाम देर से आता है, पर आता ज़रूर है। 🌳"),
    ("English", "is it safe to eat raw cookie dough?",
     "It's best to avoid it. Raw cookie dough carries two risks: **raw eggs**, which can contain *Salmonella*, "
     "and **raw flour**, which is not treated to kill bacteria and has been linked to *E. coli* outbreaks. If "
     "you love the taste, look for edible cookie dough sold in shops, or make your own with heat-treated flour "
     "(baked at 175 °C for about 5 minutes, or microwaved until it reaches 75 °C) and no eggs."),
    ("Spanish", "¿cuál es la diferencia entre 'por' y 'para'?",
     "En general:\n\n- **Para** indica destino, finalidad o plazo: *Este regalo es para ti*, *Estudio para "
     "aprender*, *Lo necesito para el lunes*.\n- **Por** indica causa, medio, intercambio o recorrido: *Lo hice "
     "por ti* (a causa de ti), *Hablamos por teléfono*, *Lo compré por diez euros*, *Paseamos por el parque*.\n"
     "\nUn truco: *para* mira hacia adelante (el objetivo); *por* mira hacia atrás (el motivo)."),
    ("Chinese", "Python和Java哪个更适合初学者？",
     "对大多数初学者来说，**Python** 更容易上手：\n\n- 语法简洁，接近自然语言，不需要先理解类和类型声明；\n- 可以"
     "很快写出有用的小程序，比如处理表格、爬取网页；\n- 在数据分析和人工智能领域应用广泛。\n\n**Java** 的优势在"
     "于：类型严格，能帮助你养成规范的编程习惯；在安卓开发和大型企业系统中很常见。\n\n建议：如果只是想入门编程或"
     "做数据相关工作，先学 Python；如果目标是安卓开发或者学校课程要求 Java，就直接学 Java。两者的核心思想是相通"
     "的。"),
    ("English", "what should i name my new cat? she is grey and very lazy",
     "A grey, lazy cat deserves a cosy name! Some ideas:\n\n- **Pebble** or **Smokey**, for the colour\n- "
     "**Nimbus** or **Storm**, grey like a cloud (ironic for a lazy cat)\n- **Duvet** or **Pillow**, because "
     "she's always on one\n- **Sloth**, if you want to be honest\n- **Earl Grey**, for a touch of class\n\nMy "
     "favourite is **Duvet**. Congratulations on your new cat! 🐱"),
    ("Russian", "напиши поздравление маме с днём рождения",
     "Мамочка, с днём рождения! 💐\n\nСпасибо тебе за тепло, заботу и терпение, за то, что ты всегда рядом, "
     "даже когда я далеко. Желаю тебе крепкого здоровья, спокойных и радостных дней, исполнения самых заветных "
     "желаний и как можно больше поводов для улыбки. Пусть каждый день приносит тебе что-то хорошее, а мы, твои "
     "дети, будем только радовать тебя. Люблю тебя! ❤️"),
    ("Japanese", "おすすめの勉強法を教えて",
     "効果が高いと言われる勉強法をいくつか紹介します。\n\n1. **アクティブリコール**：読むだけでなく、本を閉じて思"
     "い出す練習をする。\n2. **間隔反復**：1日後、3日後、1週間後と間隔をあけて復習する。\n3. **ポモドーロ・テク"
     "ニック**：25分集中して5分休む、を繰り返す。\n4. **人に説明する**：理解していない部分がすぐに分かります。\n\n"
     "スマホは別の部屋に置くだけでも集中力がかなり上がりますよ。"),
    ("English", "How do I center a div?",
     "The modern way is flexbox on the parent:\n\n```css\n.parent {\n  display: flex;\n  justify-content: "
     "center;  /* horizontal */\n  align-items: center;      /* vertical */\n  min-height: 100vh;        /* "
     "give it height to center within */\n}\n```\n\nOr with grid, even shorter:\n\n```css\n.parent {\n  "
     "display: grid;\n  place-items: center;\n}\n```\n\nIf you only need horizontal centering of a block with a "
     "fixed width, `margin: 0 auto;` on the div itself still works."),
    ("Arabic", "اكتب لي رسالة اعتذار لصديقي لأنني نسيت عيد ميلاده",
     "صديقي العزيز،\n\nأكتب إليك وأنا أشعر بالخجل، فقد نسيت عيد ميلادك هذا العام، ولا عذر لي سوى انشغالي الذي "
     "لا يبرر نسيان شخص غالٍ مثلك. أرجو أن تقبل اعتذاري الصادق، وأن تسمح لي بتعويضك بعشاء على حسابي في مطعمك "
     "المفضل هذا الأسبوع.\n\nكل عام وأنت بخير، وأتمنى لك سنة مليئة بالنجاح والسعادة. 🎉\n\nمع خالص محبتي"),
    ("Spanish", "resume la Revolución Francesa en un párrafo",
     "La Revolución Francesa (1789–1799) fue un periodo de profundos cambios políticos y sociales en Francia. "
     "Comenzó con una grave crisis económica y el descontento del Tercer Estado frente a los privilegios de la "
     "nobleza y el clero. La toma de la Bastilla, el 14 de julio de 1789, se convirtió en su símbolo. La "
     "Asamblea Nacional abolió el feudalismo y proclamó la Declaración de los Derechos del Hombre y del "
     "Ciudadano. La monarquía cayó, Luis XVI fue ejecutado en 1793 y siguió la etapa del Terror. El proceso "
     "terminó con el golpe de Napoleón Bonaparte en 1799, pero sus ideas de libertad, igualdad y soberanía "
     "popular marcaron la historia moderna."),
    ("Hindi", "भारत की राजधानी क्या है और इसका इतिहास संक्षेप में बताओ",
     "भारत की राजधानी **नई दिल्ली** है। अंग्रेज़ों ने 1911 में राजधानी को कलकत्ता से दिल्ली ले जाने की घोषणा "
     "की, और वास्तुकार एडविन लुटियंस तथा हर्बर्ट बेकर ने नई दिल्ली का निर्माण किया, जिसका उद्घाटन 1931 में हुआ। "
     "1947 में स्वतंत्रता के बाद भी नई दिल्ली ही राजधानी बनी रही। दिल्ली का इतिहास इससे कहीं पुराना है – यहाँ "
     "तोमर, चौहान, दिल्ली सल्तनत और मुग़लों ने शासन किया, और लाल क़िला, क़ुतुब मीनार जैसे स्मारक उसी दौर के हैं।"),
    ("English", "can you give me a 20 minute workout i can do at home with no equipment",
     "Sure! Do each exercise for 40 seconds, rest 20 seconds, and go through the circuit 3 times (about 20 "
     "minutes with a warm-up):\n\n**Warm-up (2 min):** marching on the spot, arm circles.\n\n**Circuit:**\n1. "
     "Squats\n2. Push-ups (on your knees if needed)\n3. Reverse lunges, alternating legs\n4. Plank\n5. Glute "
     "bridges\n6. Mountain climbers\n\n**Cool-down (2 min):** hamstring and quad stretches, child's pose.\n\n"
     "Keep your back straight in the squats and the plank, and stop if anything hurts sharply. 💪"),
    ("Chinese", "我最近总是失眠，有什么办法吗？",
     "失眠很让人困扰，可以先从这些习惯调整开始：\n\n1. **固定作息**：每天同一时间起床，周末也尽量不变。\n2. **睡"
     "前一小时远离手机**：屏幕蓝光和信息刺激都会推迟入睡。\n3. **下午两点后少喝咖啡和浓茶**。\n4. **床只用来睡觉**"
     "：躺下20分钟还睡不着，就起来做点安静的事，困了再回床上。\n5. **白天适量运动**，但避免睡前剧烈运动。\n\n如果"
     "失眠持续超过一个月，或者严重影响白天的生活，建议去医院的睡眠门诊看看。"),
    ("English", "what's the meaning of life 🤔",
     "People have answered that in very different ways! Philosophers like Aristotle pointed to *flourishing*: "
     "living well by developing your abilities and character. Many religions find meaning in a relationship "
     "with God or in living by certain values. Existentialists like Sartre and Camus argued that life has no "
     "built-in meaning, so we create it through our choices. And psychology research keeps finding that people "
     "feel their lives are meaningful when they have close relationships, a sense of purpose and something "
     "bigger than themselves to contribute to. (And, of course, Douglas Adams fans will tell you it's 42. 😄)"),
]

# Longer single-turn requests: users paste the text they want worked on (these prompts reach the input budget).
SINGLE_TURN += [
    ("English", "reply to this email from my landlord. be polite but firm, i am not paying for the boiler\n\n"
     "\"Hi, I hope you are well. As you know the boiler in your flat stopped working last week and the engineer "
     "came on Thursday to replace the pressure valve. The invoice came to £285. Since the engineer said the "
     "pressure had been set too high, which usually happens when tenants top up the system without reading the "
     "instructions, I think it is fair that you cover the cost. Could you please transfer the amount to my "
     "account by the end of the month? I have attached the invoice. Also, a reminder that the gas safety "
     "inspection is due in March and I will need access to the flat for about an hour. Let me know which days "
     "suit you. Kind regards, Martin\"",
     "Hi Martin,\n\nThank you for arranging the repair so quickly, and for sending the invoice.\n\nI'm afraid I "
     "don't agree that I should cover the cost. I have not topped up or adjusted the boiler pressure at any "
     "point; the last person to work on the system was the engineer at the annual service in October. Under my "
     "tenancy agreement, and under the Landlord and Tenant Act 1985, repairs to the heating and hot water "
     "installations are the landlord's responsibility unless the damage was caused by the tenant, and I don't "
     "believe there is evidence of that here. If the engineer's report says otherwise, could you please send "
     "me a copy?\n\nFor the gas safety inspection, any weekday after 4 pm or Saturday morning works for me.\n\n"
     "Kind regards,\nAlex"),
    ("English", "fix the grammar in my paragraph, dont change the meaning\n\nwhen i first moved to the city i "
     "didnt knew anybody and i was feeling very lonely. every day i go to work, come back and watching tv "
     "alone. one day my coworker invite me to join a football team that play every sunday in the park. i was "
     "nervous because i am not very good in sports but i decided to go anyway. the people was very friendly and "
     "after the game we all went for drinks together. now, two years later, some of them is my best friends "
     "and i cant imagine my life without them.",
     "When I first moved to the city, I didn't know anybody, and I felt very lonely. Every day I went to work, "
     "came back and watched TV alone. One day, my coworker invited me to join a football team that played "
     "every Sunday in the park. I was nervous because I am not very good at sports, but I decided to go anyway. "
     "The people were very friendly, and after the game we all went for drinks together. Now, two years later, "
     "some of them are my best friends, and I can't imagine my life without them.\n\n**Main corrections:** "
     "past tenses (*didn't know*, *went*, *watched*, *invited*), *good at sports*, *people were*, *some of "
     "them are*, capital letters and commas."),
    ("Spanish", "traduce al inglés este texto para la web de mi restaurante:\n\nEn Casa Lola cocinamos como lo "
     "hacía mi abuela: sin prisas, con productos del mercado y mucho cariño. Nuestro arroz se hace al momento, "
     "por eso os pedimos un poco de paciencia; merece la pena. Trabajamos con pescadores de la zona y con "
     "huertas a menos de veinte kilómetros, y cambiamos la carta según la temporada. Los martes cerramos para "
     "descansar y los domingos por la noche tenemos música en directo. Si tienes alguna alergia o "
     "intolerancia, díselo a nuestro equipo: adaptamos casi todos los platos. ¡Te esperamos!",
     "At Casa Lola we cook the way my grandmother did: unhurried, with produce from the market and plenty of "
     "love. Our rice dishes are made to order, so we ask for a little patience; it is worth the wait. We work "
     "with local fishermen and with vegetable gardens less than twenty kilometres away, and our menu changes "
     "with the seasons. We are closed on Tuesdays to rest, and on Sunday evenings we have live music. If you "
     "have any allergy or intolerance, just tell our team: we can adapt almost every dish. We look forward to "
     "seeing you!"),
    ("Russian", "сократи этот текст в два раза, сохрани главное:\n\nНаша компания уже пятнадцать лет занимается "
     "доставкой грузов по России и странам СНГ. За это время мы выполнили более ста тысяч заказов, открыли "
     "филиалы в двенадцати городах и собрали собственный парк из двухсот грузовиков. Мы работаем как с "
     "крупными производителями, так и с небольшими интернет-магазинами, и для каждого клиента подбираем "
     "оптимальный маршрут и тариф. Все грузы застрахованы, а отследить их можно в личном кабинете на сайте в "
     "режиме реального времени. Наши менеджеры на связи круглосуточно и всегда готовы ответить на вопросы. В "
     "этом году мы запустили новую услугу — доставку сборных грузов, которая позволяет сэкономить до тридцати "
     "процентов, если ваша партия занимает не весь кузов.",
     "Уже пятнадцать лет мы доставляем грузы по России и СНГ: более ста тысяч заказов, филиалы в двенадцати "
     "городах и собственный парк из двухсот грузовиков. Мы работаем и с крупными производителями, и с "
     "интернет-магазинами, подбирая каждому маршрут и тариф. Грузы застрахованы и отслеживаются онлайн, "
     "менеджеры на связи круглосуточно. Новая услуга — доставка сборных грузов — экономит до 30 %, если партия "
     "не занимает весь кузов."),
    ("English", "my docker container keeps exiting right after it starts. what's wrong?\n\n```yaml\nversion: "
     "\"3.8\"\nservices:\n  web:\n    build: .\n    ports:\n      - \"8000:8000\"\n    environment:\n      - "
     "DATABASE_URL=postgres://app:secret@db:5432/app\n    depends_on:\n      - db\n  db:\n    image: "
     "postgres:15\n    environment:\n      - POSTGRES_USER=app\n      - POSTGRES_PASSWORD=secret\n```\n\nlogs:"
     "\n```\nweb_1  | Traceback (most recent call last):\nweb_1  |   File \"/app/manage.py\", line 22, in "
     "<module>\nweb_1  |     main()\nweb_1  | django.db.utils.OperationalError: could not connect to server: "
     "Connection refused\nweb_1  |     Is the server running on host \"db\" (172.18.0.2) and accepting\nweb_1  "
     "|     TCP/IP connections on port 5432?\nproject_web_1 exited with code 1\n```",
     "Your web container starts before PostgreSQL is ready to accept connections. `depends_on` only waits for "
     "the `db` *container* to start, not for the database inside it to finish initialising, so Django's first "
     "connection is refused and the process exits.\n\nTwo fixes, best used together:\n\n1. Add a health check "
     "and wait for it:\n\n```yaml\n  db:\n    image: postgres:15\n    environment:\n      - POSTGRES_USER=app\n"
     "      - POSTGRES_PASSWORD=secret\n    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -U app\"]\n"
     "      interval: 2s\n      retries: 15\n  web:\n    depends_on:\n      db:\n        condition: "
     "service_healthy\n```\n\n2. Add `restart: on-failure` to `web`, so a lost race at start-up retries instead "
     "of leaving the container stopped.\n\nAlso note that `POSTGRES_DB` is not set, so the database is called "
     "`app` only because it defaults to the user name; set it explicitly to avoid surprises."),
    ("Japanese", "次の文章を自然な英語に翻訳してください。\n\n先日は弊社の工場見学にお越しいただき、誠にありがとうござい"
     "ました。当日は生憎の雨でしたが、最後まで熱心にご質問いただき、社員一同大変励みになりました。ご指摘いただいた"
     "梱包工程の改善点につきましては、早速社内で検討を始めております。来月には改善案をまとめ、改めてご報告させてい"
     "ただく予定です。今後とも変わらぬご指導のほど、よろしくお願い申し上げます。",
     "Thank you very much for visiting our factory the other day. Although it was unfortunately raining, you "
     "asked thoughtful questions right up to the end, which was a great encouragement to all of our staff. We "
     "have already begun discussing internally the improvements to the packing process that you pointed out. "
     "We plan to put together a proposal next month and will report back to you then. We look forward to your "
     "continued guidance."),
]

CONVERSATIONS += [
    # ---- math tutoring, 5 user turns
    ("English", [
        "can you help me with my homework. solve 2x^2 - 8x + 6 = 0 and show the steps",
        "Sure! This is a quadratic equation. Let's solve it step by step.\n\n**Step 1: simplify.** Every "
        "coefficient is even, so divide both sides by 2:\n\n$$x^2 - 4x + 3 = 0$$\n\n**Step 2: factor.** We need "
        "two numbers that multiply to 3 and add to −4. Those are −1 and −3:\n\n$$(x - 1)(x - 3) = 0$$\n\n**Step "
        "3: solve.** A product is zero when one of its factors is zero, so\n\n$$x = 1 \\quad\\text{or}\\quad x "
        "= 3$$\n\n**Check:** for x = 1: 2 − 8 + 6 = 0 ✓; for x = 3: 18 − 24 + 6 = 0 ✓.",
        "what if it doesnt factor nicely? like x^2 + 4x - 7 = 0",
        "Then use the quadratic formula, which works for every quadratic ax² + bx + c = 0:\n\n$$x = "
        "\\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}$$\n\nHere a = 1, b = 4, c = −7.\n\n1. Discriminant: b² − 4ac = 16 "
        "− 4·1·(−7) = 16 + 28 = 44.\n2. √44 = √(4·11) = 2√11.\n3. x = (−4 ± 2√11) / 2 = −2 ± √11.\n\nSo x = −2 "
        "+ √11 ≈ 1.317 or x = −2 − √11 ≈ −5.317. The answers are irrational, which is why factoring with whole "
        "numbers did not work.",
        "what does the discriminant tell you",
        "The discriminant D = b² − 4ac tells you how many real solutions there are before you solve anything:\n"
        "\n- **D > 0**: two different real solutions (the parabola crosses the x-axis twice). If D is a perfect "
        "square, they are rational and the equation factors nicely.\n- **D = 0**: exactly one real solution, a "
        "\"double root\" x = −b/(2a) (the parabola touches the axis at its vertex).\n- **D < 0**: no real "
        "solutions; the parabola never reaches the x-axis. (There are two complex solutions.)\n\nIn the last "
        "example D = 44 > 0 but 44 is not a perfect square: two irrational solutions.",
        "ok give me 3 practice problems, one of each type, but dont show the answers yet",
        "Here you go, one for each case:\n\n1. x² − 5x + 6 = 0\n2. 4x² + 12x + 9 = 0\n3. x² + 2x + 5 = 0\n\n"
        "For each one, compute the discriminant first and predict how many real solutions there are, then "
        "solve. Tell me your answers and I'll check them!",
        "1) x=2 and x=3 2) x=-1.5 3) no solution",
        "All three are correct, well done! 🎉\n\n1. D = 25 − 24 = 1 > 0 and a perfect square: (x − 2)(x − 3) = "
        "0, so x = 2 or x = 3. ✓\n2. D = 144 − 144 = 0: a double root x = −12/8 = −1.5; in fact 4x² + 12x + 9 = "
        "(2x + 3)². ✓\n3. D = 4 − 20 = −16 < 0: no real solution. ✓ (If your class covers complex numbers, the "
        "solutions are x = −1 ± 2i.)\n\nYou're ready for the test.",
    ], {"tag": "multi-turn-math"}),

    # ---- Chinese role-play, 4 user turns
    ("Chinese", [
        "我们来玩角色扮演吧。你是一家咖啡店的店员，我是第一次来的客人。你先开始。",
        "（店门上的风铃轻轻响了一声）\n\n欢迎光临！您好，第一次来我们店吗？今天外面有点冷，要不要来一杯热饮暖暖身子？"
        "我们的招牌是桂花拿铁，用的是自己熬的桂花糖浆，很多客人都很喜欢。如果您不太喝咖啡，我们也有热可可和几款花草茶"
        "。您可以慢慢看看菜单，有什么问题随时问我～",
        "桂花拿铁甜不甜？我不太喜欢太甜的。另外有没有燕麦奶？",
        "您放心，桂花拿铁的甜度是可以调的！标准是三分甜，您要是不喜欢太甜，我可以帮您做一分甜，或者干脆不加糖浆，只在"
        "奶泡上撒一点干桂花，香味还在，但基本不甜。\n\n燕麦奶我们也有的，换燕麦奶加三块钱。燕麦奶和桂花的味道其实挺搭"
        "的，口感会更顺滑一点。那我给您做一杯一分甜、燕麦奶的桂花拿铁，中杯可以吗？",
        "好的，中杯。再推荐一个甜点吧",
        "好嘞，一杯中杯一分甜燕麦奶桂花拿铁！\n\n甜点的话，我个人推荐我们今天新烤的**抹茶巴斯克**，外面焦焦的，里面很"
        "绵密，抹茶有一点点苦，和桂花拿铁一起吃刚好不会腻。如果您想吃清淡一点的，**原味司康**配我们自己做的果酱也很好"
        "。\n\n您看要哪一个？今天是您第一次来，甜点可以给您打九折哦。",
        "那就抹茶巴斯克。可以扫码付款吗",
        "当然可以！一共是中杯桂花拿铁28元，加燕麦奶3元，抹茶巴斯克26元打九折是23.4元，总共54.4元。这是收款码，您扫"
        "一下就好。\n\n（递上号码牌）您的号码是17号，请在靠窗那边找个位置坐，做好了我给您端过去。祝您今天愉快，欢迎以"
        "后常来！☕",
    ], {"tag": "multi-turn-zh-roleplay"}),
]
