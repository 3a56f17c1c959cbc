"""Write the built-in datasets shipped in the package (operator/tuneforge/data/*.jsonl).

builtin://chat-mini        chat rows (`messages`) for SFT
builtin://preference-mini  prompt/chosen/rejected rows for DPO
builtin://calibration-mini plain `text` rows for imatrix/AWQ/EXL2 calibration and perplexity
builtin://answers-mini     `prompt` and reference `answer` rows for GRPO's verifiable rewards
builtin://alpaca-mini      Alpaca rows (`instruction`, `input`, `output`, some with `system`)
builtin://sharegpt-mini    ShareGPT conversations (`conversations` of `from`/`value`, human/gpt/system)

The rows are generated from small tables of facts and exact computations, so every answer is
correct and the style is consistent: a few training steps visibly lower the loss. Deterministic:
running this again writes the same bytes. Run: python scripts/make_builtin_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "operator" / "tuneforge" / "data"

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "China": "Beijing", "India": "New Delhi", "Canada": "Ottawa", "Australia": "Canberra",
    "Brazil": "Brasília", "Argentina": "Buenos Aires", "Egypt": "Cairo", "Kenya": "Nairobi", "Norway": "Oslo",
    "Sweden": "Stockholm", "Finland": "Helsinki", "Denmark": "Copenhagen", "Poland": "Warsaw",
    "Austria": "Vienna", "Greece": "Athens", "Ireland": "Dublin", "Mexico": "Mexico City", "Peru": "Lima",
    "Chile": "Santiago", "Turkey": "Ankara", "Thailand": "Bangkok", "Vietnam": "Hanoi",
    "South Korea": "Seoul", "Indonesia": "Jakarta", "Netherlands": "Amsterdam", "Belgium": "Brussels",
    "Switzerland": "Bern", "Hungary": "Budapest", "Czechia": "Prague", "Morocco": "Rabat",
    "Nigeria": "Abuja", "New Zealand": "Wellington", "Colombia": "Bogotá", "Iceland": "Reykjavík",
}
OPPOSITES = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("early", "late"), ("light", "dark"),
    ("open", "closed"), ("full", "empty"), ("strong", "weak"), ("happy", "sad"), ("high", "low"),
    ("old", "new"), ("rich", "poor"), ("wet", "dry"), ("hard", "soft"), ("loud", "quiet"),
    ("first", "last"), ("inside", "outside"), ("above", "below"), ("push", "pull"), ("win", "lose"),
]
WORDS = [
    "apple", "banana", "cherry", "kubernetes", "operator", "python", "garden", "window", "planet",
    "river", "mountain", "library", "teacher", "rocket", "silver", "thunder", "pencil", "orange",
    "camera", "bottle", "forest", "castle", "dragon", "guitar", "island", "jacket", "kitten", "lemon",
]
COLORS = {
    "grass": "green", "the clear daytime sky": "blue", "snow": "white", "coal": "black",
    "a ripe banana": "yellow", "a ripe tomato": "red", "an orange": "orange", "a plum": "purple",
}
ELEMENTS = {
    "water": "H2O", "table salt": "NaCl", "carbon dioxide": "CO2", "methane": "CH4",
    "ammonia": "NH3", "oxygen gas": "O2", "ozone": "O3", "hydrogen peroxide": "H2O2",
}
SYSTEM = "You are a concise, accurate assistant."


def chat_rows(rng: random.Random) -> list[dict]:
    rows: list[tuple[str, str]] = []
    for country, capital in CAPITALS.items():
        rows.append((f"What is the capital of {country}?", f"The capital of {country} is {capital}."))
    for a, b in OPPOSITES:
        rows.append((f"What is the opposite of '{a}'?", f"The opposite of '{a}' is '{b}'."))
    for word in WORDS:
        rows.append((f"Spell '{word}' backwards.", f"'{word}' spelled backwards is '{word[::-1]}'."))
        rows.append((f"How many letters are in the word '{word}'?", f"The word '{word}' has {len(word)} letters."))
        rows.append((f"Write '{word}' in capital letters.", f"'{word}' in capital letters is '{word.upper()}'."))
    for thing, color in COLORS.items():
        rows.append((f"What color is {thing}?", f"{thing[0].upper() + thing[1:]} is {color}."))
    for name, formula in ELEMENTS.items():
        rows.append((f"What is the chemical formula of {name}?", f"The chemical formula of {name} is {formula}."))
    for _ in range(90):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op = rng.choice("+-*")
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        rows.append((f"What is {a} {op} {b}?", f"{a} {op} {b} = {value}."))
    for _ in range(30):
        km = rng.randint(1, 50)
        rows.append((f"How many meters are in {km} kilometers?", f"{km} kilometers is {km * 1000} meters."))
        h = rng.randint(1, 24)
        rows.append((f"How many minutes are in {h} hours?", f"{h} hours is {h * 60} minutes."))
    for _ in range(30):
        n = rng.randint(1, 500)
        kind = "even" if n % 2 == 0 else "odd"
        rows.append((f"Is {n} even or odd?", f"{n} is {kind}."))
    for _ in range(25):
        nums = rng.sample(range(1, 100), 5)
        rows.append((f"Sort these numbers from smallest to largest: {', '.join(map(str, nums))}.",
                     f"Sorted: {', '.join(map(str, sorted(nums)))}."))
    rng.shuffle(rows)
    out = []
    for prompt, answer in rows:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        if rng.random() < 0.3:
            messages.insert(0, {"role": "system", "content": SYSTEM})
        out.append({"messages": messages})
    return out


def preference_rows(rng: random.Random) -> list[dict]:
    rows = []
    capitals = list(CAPITALS.items())
    for country, capital in capitals:
        wrong = rng.choice([c for _, c in capitals if c != capital])
        rows.append((f"What is the capital of {country}?", f"The capital of {country} is {capital}.",
                     f"The capital of {country} is {wrong}."))
    for a, b in OPPOSITES:
        rows.append((f"What is the opposite of '{a}'?", f"The opposite of '{a}' is '{b}'.",
                     f"The opposite of '{a}' is '{a}'."))
    for word in WORDS:
        scrambled = "".join(rng.sample(word, len(word)))
        if scrambled == word[::-1]:
            scrambled = word
        rows.append((f"Spell '{word}' backwards.", f"'{word}' spelled backwards is '{word[::-1]}'.",
                     f"'{word}' spelled backwards is '{scrambled}'."))
    for _ in range(120):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        right = a + b
        wrong = right + rng.choice([-11, -10, -2, -1, 1, 2, 10, 11])
        rows.append((f"What is {a} + {b}?", f"{a} + {b} = {right}.", f"{a} + {b} = {wrong}."))
    for _ in range(40):
        n = rng.randint(1, 500)
        kind, other = ("even", "odd") if n % 2 == 0 else ("odd", "even")
        rows.append((f"Is {n} even or odd?", f"{n} is {kind}.", f"{n} is {other}."))
    rng.shuffle(rows)
    return [
        {
            "prompt": [{"role": "user", "content": p}],
            "chosen": [{"role": "assistant", "content": c}],
            "rejected": [{"role": "assistant", "content": r}],
        }
        for p, c, r in rows
    ]


def answers_rows(rng: random.Random) -> list[dict]:
    """Questions whose answer a reward can check: arithmetic first (a number), then facts (a word)."""
    rows: list[tuple[str, str]] = []
    for _ in range(150):
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        op = rng.choice("+-")
        rows.append((f"What is {a} {op} {b}?", str(a + b if op == "+" else a - b)))
    for _ in range(50):
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        rows.append((f"What is {a} * {b}?", str(a * b)))
    for country, capital in CAPITALS.items():
        rows.append((f"What is the capital of {country}?", capital))
    for a, b in OPPOSITES:
        rows.append((f"What is the opposite of '{a}'?", b))
    for thing, color in COLORS.items():
        rows.append((f"What color is {thing}?", color))
    rng.shuffle(rows)
    return [{"prompt": [{"role": "user", "content": q}], "answer": a} for q, a in rows]


PARAGRAPHS = [
    "Kubernetes schedules containers onto nodes and restarts them when they fail. A Job runs pods until a set number of them finish successfully.",
    "Quantization stores model weights with fewer bits. A four-bit model needs about a quarter of the memory of a sixteen-bit one, at some cost in quality.",
    "Low-rank adaptation trains two small matrices beside each frozen weight matrix. Only the small matrices are updated, so training needs far less memory.",
    "The river rose after three days of rain, and the old stone bridge disappeared beneath the brown water until the morning sun returned.",
    "Bread is made from flour, water, salt and yeast. The yeast ferments the sugars in the dough and releases carbon dioxide, which makes the loaf rise.",
    "The library opens at nine in the morning and closes at six in the evening. On Sundays it is closed, except during the exam period in June.",
    "A merge of two language models averages or interpolates their weights. Spherical interpolation follows the arc between the two weight vectors.",
    "The train to the coast leaves every hour. Passengers with bicycles should use the last carriage, where there is space for up to six bikes.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It takes place in the chloroplasts of plant cells.",
    "The committee reviewed the proposal on Tuesday and asked for a revised budget, a clearer timeline and a plan for testing before the launch.",
    "Perplexity measures how surprised a language model is by a text. Lower perplexity means the model predicted the words more accurately.",
    "In winter the lake freezes from the shore inward. Skaters wait until the ice is at least ten centimeters thick before they venture out.",
]


def calibration_rows(rng: random.Random) -> list[dict]:
    rows = [{"text": p} for p in PARAGRAPHS]
    for country, capital in CAPITALS.items():
        rows.append({"text": f"{capital} is the capital of {country}. Many visitors arrive there each year, and it is "
                             f"home to the national government of {country}."})
    for word in WORDS:
        rows.append({"text": f"The word {word} has {len(word)} letters. Written backwards it reads {word[::-1]}, and in "
                             f"capitals it is {word.upper()}."})
    for _ in range(120):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        rows.append({"text": f"If you add {a} and {b} you get {a + b}; if you subtract {b} from {a} you get {a - b}."})
    for a, b in OPPOSITES:
        rows.append({"text": f"{a.capitalize()} and {b} are opposites. When something is not {a}, it is often {b}."})
    rng.shuffle(rows)
    return rows


def alpaca_rows(rng: random.Random) -> list[dict]:
    """Instructions with an input to work on (conversions, sorting, counting) and some without."""
    rows = []
    for celsius in range(-10, 41, 2):
        rows.append({"instruction": "Convert the temperature to Fahrenheit.", "input": f"{celsius} °C",
                     "output": f"{celsius} °C is {celsius * 9 / 5 + 32:g} °F."})
    for _ in range(60):
        picked = rng.sample(WORDS, 3)
        rows.append({"instruction": "Sort these words alphabetically.", "input": ", ".join(picked),
                     "output": ", ".join(sorted(picked))})
    for n in range(2, 40):
        rows.append({"instruction": f"Is {n} an even number? Answer yes or no.", "input": "",
                     "output": "yes" if n % 2 == 0 else "no"})
    for word in WORDS[:15]:
        rows.append({"instruction": "Count the letters in the word.", "input": word,
                     "output": f"'{word}' has {len(word)} letters.", "system": "Answer in one short sentence."})
    rng.shuffle(rows)
    return rows


def sharegpt_rows(rng: random.Random) -> list[dict]:
    """Two-turn multiplication dialogues and capital questions, as ShareGPT writes them."""
    rows = []
    for a in range(2, 13):
        for b in (3, 7, 9):
            rows.append({"conversations": [
                {"from": "human", "value": f"What is {a} times {b}?"}, {"from": "gpt", "value": f"{a} times {b} is {a * b}."},
                {"from": "human", "value": f"And {a} times {b + 1}?"}, {"from": "gpt", "value": f"{a} times {b + 1} is {a * (b + 1)}."}]})
    for country, capital in list(CAPITALS.items())[:15]:
        rows.append({"conversations": [
            {"from": "system", "value": SYSTEM}, {"from": "human", "value": f"Which city is the capital of {country}?"},
            {"from": "gpt", "value": f"The capital of {country} is {capital}."}]})
    rng.shuffle(rows)
    return rows


def unique(rows: list[dict]) -> list[dict]:
    """Random draws repeat now and then; a repeated row teaches nothing new."""
    seen, out = set(), []
    for row in rows:
        key = json.dumps(row, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def write(name: str, rows: list[dict]) -> None:
    rows = unique(rows)
    path = OUT / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{path}: {len(rows)} rows")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write("chat-mini", chat_rows(random.Random(1)))
    write("preference-mini", preference_rows(random.Random(2)))
    write("calibration-mini", calibration_rows(random.Random(3)))
    write("answers-mini", answers_rows(random.Random(4)))
    write("alpaca-mini", alpaca_rows(random.Random(5)))
    write("sharegpt-mini", sharegpt_rows(random.Random(6)))


if __name__ == "__main__":
    main()
