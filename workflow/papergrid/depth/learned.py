"""What a depth run that learned looks like (papergrid.gates): the runs table marks the
others ``not_learned`` and the claims count them.

Exact match of a whole SCAN action sequence is 0 by chance; a fine-tuned model that gets a
tenth of the in-distribution held-out commands right has learned the task's mapping, one
that does not has not, and its generalisation splits say nothing about depth.
"""

from papergrid.gates import LearnedRule

LEARNED = LearnedRule(
    "acc_id",
    "higher",
    0.0,
    0.1,
    "exact match is 0 by chance; a tenth of in-distribution commands right",
)
