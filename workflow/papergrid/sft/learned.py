"""What an SFT run that learned looks like (papergrid.gates): the runs table marks the
others ``not_learned`` and the claims count them.

The test answers are scored by exact match, 0 by chance; a run that answers fewer than one
test prompt in twenty, averaged over the skills, has not learned the answer format.
"""

from papergrid.gates import LearnedRule

LEARNED = LearnedRule(
    "acc_mean",
    "higher",
    0.0,
    0.05,
    "exact match is 0 by chance; one test prompt in twenty across the skills",
)

# A skill counts as learned by an arm when its runs answer at least a fifth of its test
# prompts: exact match is 0 by chance and the base model answers none in a chat format.
SKILL_FLOOR = 0.2
