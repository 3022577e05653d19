import pytest

from papergrid.lm.data import tasks


@pytest.mark.parametrize("skill", tasks.SKILLS)
def test_reference_verifies_and_generation_is_seeded(skill):
    examples = tasks.generate(skill, 50, seed=1)
    assert all(e.verify(e.reference) for e in examples)
    assert examples == tasks.generate(skill, 50, seed=1)
    assert examples != tasks.generate(skill, 50, seed=2)


def test_addition_takes_the_last_number():
    ex = tasks.TaskExample("addition", "What is 2+3?", "5")
    assert ex.verify("2+3=5")
    assert ex.verify("The answer is 5")
    assert not ex.verify("5 is wrong, it is 6")
    assert not ex.verify("no number")


@pytest.mark.parametrize("skill", ["sort", "reverse"])
def test_exact_match_skills_reject_near_misses(skill):
    ex = tasks.generate(skill, 1, seed=4)[0]
    assert ex.verify(f" {ex.reference} ")
    assert not ex.verify(ex.reference + "x")


def test_format_checks_every_constraint():
    meta = {"word": "dog", "count": 3, "case": "upper", "sep": ";"}
    ex = tasks.TaskExample("format", "Write dog 3 times ...", "DOG;DOG;DOG", meta)
    assert ex.verify("DOG;DOG;DOG")
    assert not ex.verify("DOG;DOG")  # count
    assert not ex.verify("dog;dog;dog")  # case
    assert not ex.verify("DOG,DOG,DOG")  # separator


def test_unknown_skill_lists_the_allowed():
    with pytest.raises(ValueError, match="allowed"):
        tasks.generate("poetry", 1, 0)


def test_prompt_spaces_leave_room_for_500_held_out_prompts():
    for skill in tasks.SKILLS:
        prompts = {e.prompt for e in tasks.generate(skill, 2000, seed=0)}
        assert len(prompts) > 1000, skill
