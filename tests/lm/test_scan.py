from collections import Counter

import pytest

from papergrid.lm.data import scan


def test_full_grammar_has_20910_unique_commands():
    data = scan.all_examples()
    assert len(data) == 20910 == len({e.command for e in data})
    assert max(e.n_actions for e in data) == 48
    words = {w for e in data for w in e.command.split()}
    actions = {a for e in data for a in e.actions.split()}
    assert len(words) == 13 and len(actions) == 6


@pytest.mark.parametrize(
    ("command", "actions"),
    [
        ("jump", "I_JUMP"),
        ("turn left twice", "I_TURN_LEFT I_TURN_LEFT"),
        ("walk opposite right", "I_TURN_RIGHT I_TURN_RIGHT I_WALK"),
        ("look around left", "I_TURN_LEFT I_LOOK " * 3 + "I_TURN_LEFT I_LOOK"),
        ("run after jump twice", "I_JUMP I_JUMP I_RUN"),
        ("turn around right and walk thrice", "I_TURN_RIGHT " * 4 + "I_WALK I_WALK I_WALK"),
    ],
)
def test_translations(command, actions):
    table = {e.command: e.actions for e in scan.all_examples()}
    assert table[command] == actions.strip()


@pytest.mark.parametrize(
    ("name", "n_train", "n_test"),
    [
        ("simple", 16728, 4182),
        ("length", 16990, 3920),
        ("add_jump", 14670, 7706),
        ("around_right", 15225, 4476),
    ],
)
def test_split_sizes_match_the_published_files(name, n_train, n_test):
    train, test = scan.split(name)
    assert (len(train), len(test)) == (n_train, n_test)


def test_split_rules():
    train, test = scan.split("length")
    assert max(e.n_actions for e in train) == 22 and min(e.n_actions for e in test) == 24
    train, test = scan.split("add_jump")
    assert sum(e.command == "jump" for e in train) == 1467
    assert all("jump" not in e.command.split() for e in train if e.command != "jump")
    train, test = scan.split("around_right")
    assert not any("around right" in e.command for e in train)
    assert any("around left" in e.command for e in train)
    assert all("around right" in e.command for e in test)


def test_extra_jump_examples_move_from_test_to_train():
    train, test = scan.split("add_jump", seed=3, extra_jump=8)
    assert (len(train), len(test)) == (14678, 7698)
    moved = [e for e in train if "jump" in e.command.split() and e.command != "jump"]
    assert len(moved) == 8 and not {e.command for e in moved} & {e.command for e in test}
    with pytest.raises(ValueError, match="extra_jump"):
        scan.split("add_jump", extra_jump=10**6)


def test_official_weighting_shares_the_jump_rows_as_the_published_files_do():
    # Lake and Baroni's with_additional_examples files: the bare jump and each of the k
    # extras repeated equally, about 1,467 jump rows in all (163 each at k = 8)
    train, test = scan.split("add_jump", seed=3, extra_jump=8, extra_weighting="official")
    jumps = Counter(e.command for e in train if "jump" in e.command.split())
    assert len(jumps) == 9 and set(jumps.values()) == {163}
    assert sum(jumps.values()) == pytest.approx(1467, abs=9)
    assert len(test) == 7698  # the test set does not depend on the weighting
    once, _ = scan.split("add_jump", seed=3, extra_jump=8, extra_weighting="once")
    counted = Counter(e.command for e in once if "jump" in e.command.split())
    assert counted["jump"] == 1467 and sorted(set(counted.values())) == [1, 1467]
    assert {c for c in counted} == {c for c in jumps}  # the same extras either way
    with pytest.raises(ValueError, match="weighting 'heavy'; allowed"):
        scan.split("add_jump", extra_jump=2, extra_weighting="heavy")


def test_composition_split_weights_extras_officially_by_default():
    train, tests = scan.composition_split(seed=0, extra_jump=16)
    jumps = Counter(e.command for e in train if "jump" in e.command.split())
    assert len(jumps) == 17 and len(set(jumps.values())) == 1  # bare and extras alike
    non_jump = len(train) - sum(jumps.values())
    # 10% of the other rows, shared by 17 commands (rounded to whole copies each)
    assert abs(sum(jumps.values()) - 0.1 * (non_jump + 16)) <= 9
    once, tests_once = scan.composition_split(seed=0, extra_jump=16, extra_weighting="once")
    counted = Counter(e.command for e in once if "jump" in e.command.split())
    assert len(once) - sum(counted.values()) == non_jump
    assert sorted(set(counted.values())) == [1, round(0.1 * (non_jump + 16))]
    assert tests == tests_once


@pytest.mark.parametrize("seed", range(6))
def test_bare_jump_is_only_ever_a_training_row(seed):
    train, tests = scan.composition_split(seed=seed, extra_jump=4)
    assert all(e.command != "jump" for split in tests.values() for e in split)
    assert any(e.command == "jump" for e in train)


def test_simple_split_depends_on_seed_only():
    a, _ = scan.split("simple", seed=1)
    b, _ = scan.split("simple", seed=1)
    c, _ = scan.split("simple", seed=2)
    assert a == b and a != c
    with pytest.raises(ValueError, match="unknown SCAN split"):
        scan.split("mcd1")


def _jump(cmd: str) -> bool:
    return "jump" in cmd.split() and cmd != "jump"


def test_composition_split_holds_every_test_out_of_train():
    train, tests = scan.composition_split(seed=0, extra_jump=5, max_train_actions=22)
    assert set(tests) == set(scan.COMPOSITION_TESTS)
    train_cmds = {e.command for e in train}
    assert not any("around right" in c for c in train_cmds)
    assert sum(_jump(c) for c in train_cmds) == 5  # only the extra composite jumps
    assert max(e.n_actions for e in train) <= 22
    for name, examples in tests.items():
        assert examples and not ({e.command for e in examples} & train_cmds), name
    # each test breaks exactly one of the three rules
    assert all("around right" in e.command and not _jump(e.command) for e in tests["around_right"])
    assert all(_jump(e.command) and e.n_actions <= 22 for e in tests["add_jump"])
    assert all(e.n_actions > 22 and "around right" not in e.command for e in tests["length"])
    assert all(
        not _jump(e.command) and "around right" not in e.command and e.n_actions <= 22
        for e in tests["id"]
    )
    jump_rows = sum("jump" in e.command.split() for e in train)
    assert jump_rows == pytest.approx(0.1 * (len(train) - jump_rows + 5), abs=6)


def test_composition_split_is_deterministic_and_checks_extra_jump():
    a, b = (
        scan.composition_split(seed=3, extra_jump=2),
        scan.composition_split(seed=3, extra_jump=2),
    )
    assert a == b
    with pytest.raises(ValueError, match="extra_jump"):
        scan.composition_split(extra_jump=10**6)
