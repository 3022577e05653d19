"""SCAN (Lake and Baroni 2018), generated from its grammar, with the standard splits.

The grammar below regenerates the official ``tasks.txt``: 20,910 commands with their
action sequences (13 command words, 6 actions, outputs of at most 48 actions).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

PRIMITIVES = {"walk": "I_WALK", "look": "I_LOOK", "run": "I_RUN", "jump": "I_JUMP"}
TURNS = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
SPLITS = ("simple", "length", "add_jump", "around_right")
EXTRA_WEIGHTINGS = ("official", "once")
"""How extra composite jump examples are weighted in train. official: as Lake and Baroni's
with_additional_examples files, the bare "jump" and each extra example share the jump rows
equally (at 8 extras each appears ~163 times); once: the bare jump keeps every jump row
and each extra appears once."""


def jump_rows(bare: Example, extras: list[Example], total: int, weighting: str) -> list[Example]:
    """The rows of "jump" examples in train: ``total`` rows of the bare jump, with
    ``extras`` weighted as ``weighting`` says (see :data:`EXTRA_WEIGHTINGS`)."""
    if weighting == "once":
        return [bare] * total + list(extras)
    if weighting == "official":
        copies = max(1, round(total / (len(extras) + 1)))
        return [e for e in [bare, *extras] for _ in range(copies)]
    raise ValueError(
        f"unknown extra-jump weighting {weighting!r}; allowed: {list(EXTRA_WEIGHTINGS)}"
    )


@dataclass(frozen=True)
class Example:
    command: str
    actions: str

    @property
    def n_actions(self) -> int:
        return len(self.actions.split())


def _v_phrases() -> list[tuple[str, list[str]]]:
    """The 34 V phrases with their action sequences."""
    out = []
    for u, act in PRIMITIVES.items():
        out.append((u, [act]))
    for d, t in TURNS.items():
        out.append((f"turn {d}", [t]))
        out.append((f"turn opposite {d}", [t, t]))
        out.append((f"turn around {d}", [t] * 4))
        for u, act in PRIMITIVES.items():
            out.append((f"{u} {d}", [t, act]))
            out.append((f"{u} opposite {d}", [t, t, act]))
            out.append((f"{u} around {d}", [t, act] * 4))
    return out


def _s_phrases() -> list[tuple[str, list[str]]]:
    """The 102 S phrases: V, V twice, V thrice."""
    out = []
    for cmd, acts in _v_phrases():
        out.append((cmd, acts))
        out.append((f"{cmd} twice", acts * 2))
        out.append((f"{cmd} thrice", acts * 3))
    return out


def all_examples() -> list[Example]:
    """Every SCAN command in a fixed order: S, then S and S, then S after S."""
    s = _s_phrases()
    out = [Example(c, " ".join(a)) for c, a in s]
    for (c1, a1), (c2, a2) in itertools.product(s, s):
        out.append(Example(f"{c1} and {c2}", " ".join(a1 + a2)))
    for (c1, a1), (c2, a2) in itertools.product(s, s):
        out.append(Example(f"{c1} after {c2}", " ".join(a2 + a1)))  # x after y -> y x
    return out


def split(
    name: str,
    seed: int = 0,
    extra_jump: int = 0,
    bare_jump_copies: int = 1467,
    extra_weighting: str = "once",
) -> tuple[list[Example], list[Example]]:
    """(train, test) of a standard split.

    - simple: random 80/20 (16,728 / 4,182).
    - length: train outputs of at most 22 actions (16,990 / 3,920).
    - add_jump: every command without "jump" plus bare "jump" repeated ``bare_jump_copies``
      times (14,670 / 7,706 as published); ``extra_jump`` composite jump commands, drawn
      with ``seed``, move from test to train to lift the result off the floor, weighted as
      ``extra_weighting`` says (:data:`EXTRA_WEIGHTINGS`).
    - around_right: Loula et al.'s template split (15,225 / 4,476; see :func:`around_right`).
    """
    data = all_examples()
    if name == "simple":
        order = np.random.default_rng(seed).permutation(len(data))
        cut = int(round(0.8 * len(data)))
        return [data[i] for i in order[:cut]], [data[i] for i in order[cut:]]
    if name == "length":
        return [e for e in data if e.n_actions <= 22], [e for e in data if e.n_actions > 22]
    if name == "add_jump":
        no_jump = [e for e in data if "jump" not in e.command.split()]
        bare = next(e for e in data if e.command == "jump")
        composite = [e for e in data if "jump" in e.command.split() and e.command != "jump"]
        if not 0 <= extra_jump <= len(composite):
            raise ValueError(f"extra_jump must be in [0, {len(composite)}], got {extra_jump}")
        picked = set(np.random.default_rng(seed).choice(len(composite), extra_jump, replace=False))
        extras = [composite[i] for i in sorted(picked)]
        train = no_jump + jump_rows(bare, extras, bare_jump_copies, extra_weighting)
        return train, [e for i, e in enumerate(composite) if i not in picked]
    if name == "around_right":
        return around_right()
    raise ValueError(f"unknown SCAN split {name!r}; allowed: {list(SPLITS)}")


def around_right() -> tuple[list[Example], list[Example]]:
    """Loula et al. (2018)'s template split: 15,225 / 4,476.

    Train has no command with "around right" ("around left" and "right" do occur).
    Test has every command with a primitive verb around right ("jump around right
    twice and look left", ...). The 1,209 commands whose only "around right" is
    "turn around right" are in neither set; this reproduces the published counts.
    """
    data = all_examples()
    train = [e for e in data if "around right" not in e.command]
    test = [e for e in data if "around right" in e.command and "turn around right" not in e.command]
    return train, test


COMPOSITION_TESTS = ("id", "around_right", "add_jump", "length")


def composition_split(
    seed: int = 0,
    extra_jump: int = 0,
    max_train_actions: int = 22,
    id_fraction: float = 0.1,
    bare_jump_share: float = 0.1,
    extra_weighting: str = "official",
) -> tuple[list[Example], dict[str, list[Example]]]:
    """One training set held out from three compositional tests at once, so a single
    model is scored on every split (the standard splits each need their own model).

    Train has no "around right", no composite "jump" command (but bare "jump", repeated
    to ``bare_jump_share`` of train as in add_jump, with ``extra_jump`` composite ones
    weighted as ``extra_weighting`` says) and no output longer than ``max_train_actions``.
    Each test breaks exactly one rule:

    - id: a random ``id_fraction`` of the commands that break none (never trained on);
    - around_right: primitive verbs around right (not "turn around right" alone, as in
      Loula et al.), no composite jump, short outputs;
    - add_jump: composite jump commands, no "around right", short outputs;
    - length: outputs longer than ``max_train_actions``, no jump, no "around right".
    """
    data = all_examples()

    def around_right_(e: Example) -> bool:
        return "around right" in e.command

    def jump(e: Example) -> bool:
        return "jump" in e.command.split() and e.command != "jump"

    def long(e: Example) -> bool:
        return e.n_actions > max_train_actions

    rng = np.random.default_rng(seed)
    jumps = [e for e in data if jump(e) and not around_right_(e) and not long(e)]
    if not 0 <= extra_jump <= len(jumps):
        raise ValueError(f"extra_jump must be in [0, {len(jumps)}], got {extra_jump}")
    picked = set(rng.choice(len(jumps), extra_jump, replace=False).tolist())
    # the bare jump is train's own rows below: neither an id test command nor a second copy
    clean = [
        e for e in data if not (around_right_(e) or jump(e) or long(e)) and e.command != "jump"
    ]
    order = rng.permutation(len(clean))
    n_id = int(round(id_fraction * len(clean)))
    held = set(order[:n_id].tolist())
    train = [e for i, e in enumerate(clean) if i not in held]
    bare = next(e for e in data if e.command == "jump")
    extras = [jumps[i] for i in sorted(picked)]
    total = int(round(bare_jump_share * (len(train) + len(extras))))
    train += jump_rows(bare, extras, total, extra_weighting)
    tests = {
        "id": [clean[i] for i in sorted(held)],
        "around_right": [
            e
            for e in data
            if around_right_(e)
            and "turn around right" not in e.command
            and not jump(e)
            and not long(e)
        ],
        "add_jump": [e for i, e in enumerate(jumps) if i not in picked],
        "length": [e for e in data if long(e) and not jump(e) and not around_right_(e)],
    }
    return train, tests
