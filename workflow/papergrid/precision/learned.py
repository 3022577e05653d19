"""What a precision run that learned looks like (papergrid.gates): the runs table marks the
others ``not_learned`` and the claims count them.

A language model that never used its context stays at the unigram level (Kumar et al.
drop such runs, as diverged); every run's summary carries that level. The capacity runs
have no rule: their statistic is the bits stored, and a model that stores nothing is a
measurement of zero bits, not a run that failed.
"""

from papergrid.gates import LearnedRule

LEARNED = LearnedRule(
    "val_loss",
    "lower",
    "val_unigram",
    0.0,
    "a model that never used its context stays at the unigram level",
)
