"""What a weights run that learned looks like (papergrid.gates): the runs table marks the
others ``not_learned`` and the claims count them.

Ten digit classes: chance accuracy is 0.1. Every width trained here fits its training set
to well above 0.9 when it trains at all (docs/weights.md), so 0.4 separates a run that
never left chance (a learning rate too small to move, say) from any run that trained.
"""

from papergrid.gates import LearnedRule

LEARNED = LearnedRule(
    "train_acc",
    "higher",
    0.1,
    0.3,
    "ten classes: chance is 0.1; a run that trains fits far above 0.4",
)
