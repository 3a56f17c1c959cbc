"""The verifiable rewards GRPO can use, chosen by name in the manifest (no code from a manifest runs).

Each scorer takes one completion's text and the row's reference answer and returns a float; the
trainer gets them as TRL reward functions (batched, keyword `answer` from the dataset column) with
the manifest's weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...api.preference import RewardSettings

NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?")
TRAILING = " \t\n.!?;:,'\"`*)"
DEFAULT_TARGET_LENGTH = 64


def normalize(text: str) -> str:
    return " ".join(text.lower().split()).strip(TRAILING)


def exact_match(completion: str, answer: str) -> float:
    """1 when the completion ends with the answer as a whole word ('11 + 47 = 58.' for '58')."""
    said, wanted = normalize(completion), normalize(answer)
    if not wanted or not said.endswith(wanted):
        return 0.0
    before = said[: len(said) - len(wanted)]
    return 1.0 if not before or not (before[-1].isalnum() or before[-1] in "-+.") else 0.0


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def numeric_match(completion: str, answer: str, tolerance: float = 0.0) -> float:
    """1 when the completion's last number is within `tolerance` of the answer (a number)."""
    wanted = _number(answer.strip())
    found = NUMBER.findall(completion)
    if wanted is None or not found:
        return 0.0
    said = _number(found[-1])
    return 1.0 if said is not None and abs(said - wanted) <= tolerance else 0.0


def format_match(completion: str, pattern: str) -> float:
    return 1.0 if re.search(pattern, completion, flags=re.DOTALL) else 0.0


def length_penalty(completion: str, target: int = DEFAULT_TARGET_LENGTH) -> float:
    """0 up to `target` characters, then falling linearly to -1 at twice the target (and staying there)."""
    over = len(completion.strip()) - target
    return -min(1.0, over / target) if over > 0 else 0.0


def scorer(reward: RewardSettings) -> Callable[[str, str], float]:
    """(completion, answer) -> score for one reward of the manifest."""
    if reward.name == "exact-match":
        return exact_match
    if reward.name == "numeric-match":
        tolerance = reward.tolerance or 0.0
        return lambda completion, answer: numeric_match(completion, answer, tolerance)
    if reward.name == "format":
        pattern = reward.pattern or ""
        return lambda completion, _answer: format_match(completion, pattern)
    target = reward.target_length or DEFAULT_TARGET_LENGTH
    return lambda completion, _answer: length_penalty(completion, target)


def completion_text(completion) -> str:
    """TRL passes a conversational completion as a list of messages, a plain one as a string."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def trl_reward_functions(rewards: list[RewardSettings]) -> tuple[list[Callable], list[float]]:
    """TRL reward functions (named after the reward, which TRL logs as rewards/<name>/mean) and weights."""
    functions = []
    for reward in rewards:
        score = scorer(reward)

        def function(completions, answer=None, _score=score, **_kwargs):
            answers = answer if answer is not None else [""] * len(completions)
            return [_score(completion_text(c), str(a)) for c, a in zip(completions, answers, strict=True)]

        function.__name__ = reward.name.replace("-", "_")
        functions.append(function)
    return functions, [r.weight for r in rewards]
