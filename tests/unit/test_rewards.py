"""GRPO's verifiable rewards on known completions: a right, a wrong and a badly formatted answer."""

import pytest

from tuneforge.api.preference import RewardSettings
from tuneforge.backends.finetune.rewards import scorer, trl_reward_functions

RIGHT, WRONG, BADLY_FORMATTED = "11 + 47 = 58.", "11 + 47 = 56.", "fifty-eight, I think"
ANSWER_FORMAT = r"^The answer is \S+\.$"


@pytest.mark.parametrize("reward, right, wrong, badly", [
    (RewardSettings(name="exact-match"), 1.0, 0.0, 0.0),
    (RewardSettings(name="numeric-match"), 1.0, 0.0, 0.0),
    (RewardSettings(name="numeric-match", tolerance=2.0), 1.0, 1.0, 0.0),
    (RewardSettings(name="length-penalty", target_length=10), -0.3, -0.3, -1.0),
])
def test_scores_of_known_completions(reward, right, wrong, badly):
    score = scorer(reward)
    assert [score(c, "58") for c in (RIGHT, WRONG, BADLY_FORMATTED)] == pytest.approx([right, wrong, badly])


def test_exact_match_wants_the_whole_final_word():
    score = scorer(RewardSettings(name="exact-match"))
    assert score("The capital of Iceland is Reykjavík.", "reykjavík") == 1.0
    assert score("It is 158", "58") == 0.0 and score("It is -58", "58") == 0.0 and score("It is 5.58", "58") == 0.0
    assert score("58 at first, then 56", "58") == 0.0, "the final answer counts, not any mention"


def test_format_reward_checks_the_form_only():
    score = scorer(RewardSettings(name="format", pattern=ANSWER_FORMAT))
    assert [score(c, "58") for c in ("The answer is 58.", "The answer is 56.", RIGHT)] == [1.0, 1.0, 0.0]


def test_numeric_match_reads_the_last_number():
    score = scorer(RewardSettings(name="numeric-match"))
    assert score("1,000 meters", "1000") == 1.0 and score("about 2.50", "2.5") == 1.0
    assert score("no number here", "5") == 0.0 and score("5", "Paris") == 0.0


def test_trl_functions_take_chat_completions_and_the_answer_column():
    functions, weights = trl_reward_functions([RewardSettings(name="exact-match", weight=2.0),
                                               RewardSettings(name="length-penalty", weight=0.5)])
    completions = [[{"role": "assistant", "content": RIGHT}], [{"role": "assistant", "content": WRONG}]]
    assert [f.__name__ for f in functions] == ["exact_match", "length_penalty"] and weights == [2.0, 0.5]
    assert functions[0](completions, answer=["58", "58"], prompts=["q", "q"]) == [1.0, 0.0]
