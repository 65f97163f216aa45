#!/usr/bin/env python3
"""Write the offline benchmark replicas under data/replicas/ (deterministic; rerun after editing this file).

A replica is a tiny copy of a Hub dataset with the same configs, splits, columns and value formats, laid out as
a local dataset folder (`README.md` with a `configs:` block + JSONL files), so that lm-eval's *installed* task
definitions run on it with only `dataset_path` redirected (rewild.replicas). The rows:
- BBH: the few-shot exemplars that lm-eval's own leaderboard YAMLs ship (real BBH items);
- MBPP: rows written here whose reference code passes its own tests (CRLF line ends, as on the Hub);
- the others: items written here in the exact format of the real dataset (MATH solutions end in \\boxed{},
  MuSR `choices` is a Python-literal string, IFEval kwargs carry every key with nulls as the Hub copy does,
  MMLU-Pro has up to ten options and a letter answer, GPQA keeps its column names with spaces).
They exercise the code paths; their scores mean nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "replicas"


def lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


def write_dataset(hub_id: str, configs: dict[str, dict[str, list[dict]]], source: str,
                  features: list[dict] | None = None) -> Path:
    """configs: {config_name: {split: rows}} -> data/replicas/<org>/<name>/ (+ README.md with configs).
    `features`: the Hub card's `dataset_info` features (column order and dtypes, e.g. MBPP's int32 task_id), for
    every config; rows then keep their column order."""
    root = OUT / hub_id
    root.mkdir(parents=True, exist_ok=True)
    meta = []
    for config, splits in configs.items():
        files = []
        for split, rows in splits.items():
            rel = f"{config}/{split}.jsonl"
            (root / config).mkdir(exist_ok=True)
            with open(root / rel, "w") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False, sort_keys=features is None) + "\n")
            files.append({"split": split, "path": rel})
        meta.append({"config_name": config, "data_files": files})
    card = {"configs": meta}
    if features is not None:
        card = {"dataset_info": [{"config_name": c, "features": features} for c in configs], **card}
    front = yaml.safe_dump(card, sort_keys=False)
    (root / "README.md").write_text(
        f"---\n{front}---\n# Replica of `{hub_id}` (offline tests and the paper-mini config)\n\n{source}\n"
        "Written by tools/make_replicas.py. Same configs, splits and columns as the Hub dataset; a few rows.\n"
    )
    return root


def bbh() -> dict:
    """SaylorTwift/bbh: one config per subtask, split test, columns input/target."""
    configs = {}
    for path in sorted((lm_eval_tasks_dir() / "leaderboard" / "bbh_mc").glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        cfg = yaml.safe_load(path.read_text())
        rows = [{"input": s["input"], "target": s["target"]} for s in cfg["fewshot_config"]["samples"]]
        configs[cfg["dataset_name"]] = {"test": rows}
    return configs


def gpqa() -> dict:
    items = [
        ("Physics", "Quantum Mechanics", "A spin-1/2 particle is in the state (|up> + |down>)/sqrt(2). What is the "
         "probability of measuring spin up along z?", "1/2", "1/4", "1", "0"),
        ("Chemistry", "Organic Chemistry", "Which reagent converts a primary alcohol to an aldehyde without "
         "over-oxidation to the carboxylic acid?", "Pyridinium chlorochromate (PCC)", "Potassium permanganate",
         "Chromic acid (Jones reagent)", "Sodium borohydride"),
        ("Biology", "Molecular Biology", "Which enzyme seals nicks in the sugar-phosphate backbone during DNA "
         "replication?", "DNA ligase", "Helicase", "Primase", "Topoisomerase I"),
        ("Physics", "Relativistic Mechanics", "A particle moves at 0.6c. What is its Lorentz factor?", "1.25",
         "1.6", "0.8", "1.67"),
    ]
    rows = [
        {
            "Record ID": f"rec{idx:04d}",
            "High-level domain": dom,
            "Subdomain": sub,
            "Question": q,
            "Correct Answer": c,
            "Incorrect Answer 1": w1,
            "Incorrect Answer 2": w2,
            "Incorrect Answer 3": w3,
            "Explanation": f"The correct answer is {c}.",
        }
        for idx, (dom, sub, q, c, w1, w2, w3) in enumerate(items)
    ]
    return {name: {"train": rows} for name in ("gpqa_main", "gpqa_extended", "gpqa_diamond")}


MATH_ITEMS = {
    "algebra": ("If $3x + 7 = 22$, what is $x$?", "Subtracting 7 gives $3x = 15$, so $x = \\boxed{5}$."),
    "counting_and_probability": ("How many ways can 3 books be arranged on a shelf?",
                                 "There are $3! = \\boxed{6}$ arrangements."),
    "geometry": ("A right triangle has legs 6 and 8. What is its hypotenuse?",
                 "By Pythagoras, $\\sqrt{36+64} = \\boxed{10}$."),
    "intermediate_algebra": ("Find the sum of the roots of $x^2 - 5x + 6 = 0$.",
                             "By Vieta's formulas the sum is $\\boxed{5}$."),
    "number_theory": ("What is the remainder when $2^{10}$ is divided by 7?",
                      "$2^3 \\equiv 1 \\pmod 7$, so $2^{10} = 2^9 \\cdot 2 \\equiv 2$. The answer is $\\boxed{2}$."),
    "prealgebra": ("What is $\\frac{3}{4}$ of 48?", "$\\frac{3}{4} \\cdot 48 = \\boxed{36}$."),
    "precalculus": ("Compute $\\cos 0 + \\sin \\frac{\\pi}{2}$.", "$1 + 1 = \\boxed{2}$."),
}


def math_lighteval() -> dict:
    configs = {}
    for config, (problem, solution) in MATH_ITEMS.items():
        kind = config.replace("_", " ").title().replace("And", "&")
        rows = [
            {"problem": problem, "level": "Level 5", "type": kind, "solution": solution},
            {"problem": problem.replace("?", " exactly?"), "level": "Level 3", "type": kind, "solution": solution},
        ]
        configs[config] = {"train": rows, "test": rows}
    return configs


def musr() -> dict:
    def row(narrative, question, choices, answer):
        return {"narrative": narrative, "question": question, "choices": repr(choices),
                "answer_index": choices.index(answer), "answer_choice": answer}

    splits = {
        "murder_mysteries": [row(
            "In the quiet village library, Mr. Hale was found dead among the stacks. Detective Ruiz learned that "
            "Clara had a key to the archive and a motive; Tom had an alibi confirmed by two witnesses at the pub.",
            "Who is the most likely murderer?", ["Clara", "Tom"], "Clara")],
        "object_placements": [row(
            "Maya put her keys on the kitchen counter and left for a run. While she was out, Leo moved the keys "
            "into the drawer to clear space for groceries. Maya did not see this happen.",
            "Which location is the most likely place Maya would look to find the keys given the story?",
            ["kitchen counter", "drawer", "car"], "kitchen counter")],
        "team_allocation": [row(
            "A bakery needs one person at the oven and one at the counter. Ana is a skilled baker but shy with "
            "customers; Ben is friendly and quick with change but burns pastries.",
            "Given the story, how would you uniquely allocate each person to make sure both tasks are "
            "accomplished efficiently?",
            ["Oven: Ana, Counter: Ben", "Oven: Ben, Counter: Ana"], "Oven: Ana, Counter: Ben")],
    }
    return {"default": splits}


IFEVAL_KEYS = (
    "num_highlights", "relation", "num_words", "num_placeholders", "prompt_to_repeat", "num_paragraphs",
    "nth_paragraph", "first_word", "num_sentences", "keywords", "forbidden_words", "frequency", "keyword",
    "letter", "let_frequency", "let_relation", "language", "end_phrase", "num_bullets", "section_spliter",
    "num_sections", "capital_frequency", "capital_relation", "postscript_marker",
)


def ifeval() -> dict:
    def kw(**set_):
        return {k: set_.get(k) for k in IFEVAL_KEYS}

    rows = [
        {"key": 1000, "prompt": "Write a short poem about the sea. Do not use any commas in your response.",
         "instruction_id_list": ["punctuation:no_comma"], "kwargs": [kw()]},
        {"key": 1001, "prompt": "Explain photosynthesis in fewer than 50 words, all in lowercase letters.",
         "instruction_id_list": ["length_constraints:number_words", "change_case:english_lowercase"],
         "kwargs": [kw(relation="less than", num_words=50), kw()]},
        {"key": 1002, "prompt": "List three tips for learning a language. Use exactly 3 markdown bullet points "
                                "such as:\n* This is a point.",
         "instruction_id_list": ["detectable_format:number_bullet_lists"], "kwargs": [kw(num_bullets=3)]},
        {"key": 1003, "prompt": "Describe your ideal weekend. Include the keywords 'hiking' and 'coffee', and "
                                "finish with the exact phrase 'Is there anything else I can help with?'",
         "instruction_id_list": ["keywords:existence", "startend:end_checker"],
         "kwargs": [kw(keywords=["hiking", "coffee"]), kw(end_phrase="Is there anything else I can help with?")]},
    ]
    return {"default": {"train": rows}}


def mmlu_pro() -> dict:
    def row(qid, question, options, answer_index, category):
        return {"question_id": qid, "question": question, "options": options,
                "answer": "ABCDEFGHIJ"[answer_index], "answer_index": answer_index,
                "cot_content": "", "category": category, "src": f"ori_mmlu-{category}"}

    test = [
        row(70, "Which gas makes up most of Earth's atmosphere?",
            ["Oxygen", "Nitrogen", "Argon", "Carbon dioxide", "Helium", "Hydrogen", "Neon", "Methane", "Ozone",
             "Water vapour"], 1, "chemistry"),
        row(71, "What is the derivative of x^3?", ["3x^2", "x^2", "3x", "x^3/3", "2x^3", "3", "x^4/4", "6x",
                                                  "0", "3x^3"], 0, "math"),
        row(72, "Which court case established judicial review in the United States?",
            ["Brown v. Board of Education", "Marbury v. Madison", "Roe v. Wade", "Miranda v. Arizona"], 1, "law"),
    ]
    validation = [
        row(1, "What is 2 + 2?", ["3", "4", "5", "6"], 1, "math"),
        row(2, "Which organ pumps blood through the body?", ["Lungs", "Liver", "Heart", "Kidney"], 2, "health"),
        row(3, "H2O is the chemical formula of?", ["Salt", "Water", "Sugar", "Ammonia"], 1, "chemistry"),
        row(4, "Which planet is closest to the Sun?", ["Venus", "Earth", "Mercury", "Mars"], 2, "physics"),
        row(5, "Supply and demand determine a market's?", ["Price", "Tax", "Tariff", "Subsidy"], 0, "economics"),
    ]
    return {"default": {"test": test, "validation": validation}}


# MBPP rows written here in MBPP's style: CRLF in `code` (as the Hub rows), one prompt in Cyrillic and Japanese,
# one row that needs its test_setup_code; each row's reference code passes its own tests.
MBPP_ROWS = {'train': [{'task_id': 601,
            'text': 'Write a function to reverse each word of a sentence while keeping the word order.',
            'code': "def reverse_words(s):\r\n  return ' '.join(w[::-1] for w in s.split(' '))",
            'test_list': ["assert reverse_words('abc def') == 'cba fed'",
                          "assert reverse_words('a') == 'a'",
                          "assert reverse_words('ab  c') == 'ba  c'"],
            'test_setup_code': '',
            'challenge_test_list': []},
           {'task_id': 602,
            'text': 'Write a python function to check whether a number is a power of two.',
            'code': 'def is_pow2(n):\r\n  return n > 0 and n & (n - 1) == 0',
            'test_list': ['assert is_pow2(1) == True',
                          'assert is_pow2(6) == False',
                          'assert is_pow2(1024) == True'],
            'test_setup_code': '',
            'challenge_test_list': []}],
 'test': [{'task_id': 11,
           'text': 'Write a python function to remove the first and last occurrence of a given character from the '
                   'string.',
           'code': 'def remove_occ(s, ch):\r\n'
                   '  i = s.find(ch)\r\n'
                   '  if i != -1:\r\n'
                   '    s = s[:i] + s[i+1:]\r\n'
                   '  j = s.rfind(ch)\r\n'
                   '  if j != -1:\r\n'
                   '    s = s[:j] + s[j+1:]\r\n'
                   '  return s',
           'test_list': ['assert remove_occ("hello","l") == "heo"',
                         'assert remove_occ("abcda","a") == "bcd"',
                         'assert remove_occ("PHP","P") == "H"'],
           'test_setup_code': '',
           'challenge_test_list': ['assert remove_occ("hellolloll","l") == "helollol"',
                                   'assert remove_occ("","l") == ""']},
          {'task_id': 12,
           'text': 'Write a function to sort a given matrix in ascending order according to the sum of its rows.',
           'code': 'def sort_matrix(M):\r\n  return sorted(M, key=sum)',
           'test_list': ['assert sort_matrix([[1, 2, 3], [2, 4, 5], [1, 1, 1]])==[[1, 1, 1], [1, 2, 3], [2, 4, 5]]',
                         'assert sort_matrix([[1, 2, 3], [-2, 4, -5], [1, -1, 1]])==[[-2, 4, -5], [1, -1, 1], [1, '
                         '2, 3]]',
                         'assert sort_matrix([[5,8,9],[6,4,3],[2,1,4]])==[[2, 1, 4], [6, 4, 3], [5, 8, 9]]'],
           'test_setup_code': '',
           'challenge_test_list': []},
          {'task_id': 13,
           'text': 'Write a function to count the words of a sentence in any script, e.g. «Добрый день» or 「こんにちは '
                   '世界」, splitting on whitespace.',
           'code': 'def count_words(s):\r\n  return len(s.split())',
           'test_list': ["assert count_words('Добрый день') == 2",
                         "assert count_words('こんにちは 世界') == 2",
                         "assert count_words('  one   two three ') == 3"],
           'test_setup_code': '',
           'challenge_test_list': []},
          {'task_id': 14,
           'text': 'Write a function that returns the value stored under key in the global table LOOKUP, or None.',
           'code': 'def lookup(key):\r\n  return LOOKUP.get(key)',
           'test_list': ["assert lookup('a') == 1", "assert lookup('z') is None", "assert lookup('b') == 2"],
           'test_setup_code': "LOOKUP = {'a': 1, 'b': 2}",
           'challenge_test_list': []},
          {'task_id': 15,
           'text': 'Write a function to find the n-th Fibonacci number (fib(0) = 0, fib(1) = 1).',
           'code': 'def fib(n):\r\n  a, b = 0, 1\r\n  for _ in range(n):\r\n    a, b = b, a + b\r\n  return a',
           'test_list': ['assert fib(0) == 0', 'assert fib(10) == 55', 'assert fib(20) == 6765'],
           'test_setup_code': '',
           'challenge_test_list': []}],
 'validation': [{'task_id': 511,
                 'text': 'Write a python function to find the minimum sum of factors of a given number.',
                 'code': 'def find_min_sum(num):\r\n'
                         '  s = 0\r\n'
                         '  i = 2\r\n'
                         '  while i * i <= num:\r\n'
                         '    while num % i == 0:\r\n'
                         '      s += i\r\n'
                         '      num //= i\r\n'
                         '    i += 1\r\n'
                         '  return s + (num if num > 1 else 0)',
                 'test_list': ['assert find_min_sum(12) == 7',
                               'assert find_min_sum(105) == 15',
                               'assert find_min_sum(2) == 2'],
                 'test_setup_code': '',
                 'challenge_test_list': []}],
 'prompt': [{'task_id': 1,
             'text': 'Write a function to return the larger of two numbers.',
             'code': 'def larger(a, b):\r\n  return a if a >= b else b',
             'test_list': ['assert larger(3, 9) == 9', 'assert larger(-1, -7) == -1', 'assert larger(4, 4) == 4'],
             'test_setup_code': '',
             'challenge_test_list': []},
            {'task_id': 2,
             'text': 'Write a python function to count the vowels in a string.',
             'code': "def count_vowels(s):\r\n  return sum(1 for c in s.lower() if c in 'aeiou')",
             'test_list': ["assert count_vowels('Programming') == 3",
                           "assert count_vowels('xyz') == 0",
                           "assert count_vowels('AEIOU') == 5"],
             'test_setup_code': '',
             'challenge_test_list': []}]}

MBPP_FEATURES = [
    {"name": "task_id", "dtype": "int32"},
    {"name": "text", "dtype": "string"},
    {"name": "code", "dtype": "string"},
    {"name": "test_list", "sequence": "string"},
    {"name": "test_setup_code", "dtype": "string"},
    {"name": "challenge_test_list", "sequence": "string"},
]


def mbpp() -> dict:
    """google-research-datasets/mbpp: config `full` (the one lm-eval's `mbpp` reads) with its four splits."""
    return {"full": MBPP_ROWS}


DATASETS = {
    "SaylorTwift/bbh": (bbh, "Rows: the few-shot exemplars of lm-eval's leaderboard_bbh YAMLs (real BBH items)."),
    "Idavidrein/gpqa": (gpqa, "Rows: written here in GPQA's CSV columns."),
    "DigitalLearningGmbH/MATH-lighteval": (math_lighteval, "Rows: written here; Level 5 rows are the hard set."),
    "TAUR-Lab/MuSR": (musr, "Rows: written here; `choices` is a Python-literal list, as on the Hub."),
    "wis-k/instruction-following-eval": (ifeval, "Rows: written here; kwargs carry every key, unused ones null."),
    "TIGER-Lab/MMLU-Pro": (mmlu_pro, "Rows: written here; validation holds the few-shot pool."),
    "google-research-datasets/mbpp": (mbpp, (
        "Config `full` only (the one lm-eval's `mbpp` task reads), with its four splits and columns: `task_id`, "
        "`text`,\n`code`, `test_list` (three asserts), `test_setup_code` (one row needs it), `challenge_test_list`. "
        "Rows written\nhere in MBPP's style (CRLF in `code`, as the Hub rows; one prompt in Cyrillic and Japanese); "
        "each row's reference\ncode passes its own tests. Task ids follow the Hub's ranges: prompt 1-10, test "
        "11-510, validation 511-600,\ntrain 601-974.\n")),
}
FEATURES = {"google-research-datasets/mbpp": MBPP_FEATURES}


def main() -> int:
    for hub_id, (build, source) in DATASETS.items():
        print(write_dataset(hub_id, build(), source, FEATURES.get(hub_id)).relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
