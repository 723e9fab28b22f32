from search.outcomes import TacticState


def test_state_key_ignores_whitespace_but_not_goal_order() -> None:
    a = TacticState(("x : Nat\n⊢  x = x", "⊢ True"), id=1)
    b = TacticState(("x : Nat ⊢ x = x", "⊢ True"), id=2)
    c = TacticState(("⊢ True", "x : Nat ⊢ x = x"), id=3)
    assert a.key == b.key
    assert a.key != c.key
    assert a.pp == "x : Nat\n⊢  x = x\n\n⊢ True"
