"""What a TokenFormer run that learned looks like (papergrid.gates): the runs table marks
the others ``not_learned`` and the claims count them.

A model that learned nothing predicts uniformly over the vocabulary, ln(vocab) nats; the
language's exact entropy is far below (the runs table carries it). A run must close at
least a tenth of the gap between the two.
"""

import math

from papergrid.gates import LearnedRule

SHARE = 0.1  # of the gap between the uniform loss and the language's entropy


def learned_rule(vocab: int, entropy: float) -> LearnedRule:
    uniform = math.log(vocab)
    return LearnedRule(
        "val_loss",
        "lower",
        uniform,
        SHARE * max(uniform - entropy, 0.0),
        f"a tenth of the way from uniform ({uniform:.3g} nats) to the entropy",
    )
