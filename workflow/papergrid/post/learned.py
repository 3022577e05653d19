"""What a post-training run that learned looks like (papergrid.gates): the runs table marks
the others ``not_learned`` and the claims count them.

Post-training starts from an SFT checkpoint that already answers (the weaker start about
one prompt in twenty); a run whose mean exact match falls below one in fifty has collapsed
rather than been tuned, and its comparison with other losses says nothing about them.
"""

from papergrid.gates import LearnedRule

LEARNED = LearnedRule(
    "acc_mean",
    "higher",
    0.0,
    0.02,
    "the starts answer; below one prompt in fifty a run has collapsed",
)
