import pytest

from search.banned import DEFAULT_BANNED, BannedTokens

POLICY = BannedTokens()


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("sorry", "sorry"),
        ("exact (sorry)", "sorry"),
        ("admit", "admit"),
        ("native_decide", "native_decide"),
        ("decide +native", "+native"),
        ("apply?", "apply?"),
        ("exact?", "exact?"),
        ("run_tac do pure ()", "run_tac"),
        ("#eval 1", "#eval"),
        ("exact IO.println", "IO."),
        ("unsafe def x := 1", "unsafe"),
        ("@[implemented_by f] def g := 1", "implemented_by"),
        ("@[extern \"c\"] opaque h : Nat", "extern"),
        ("axiom bad : False", "axiom"),
        ("set_option debug.skipKernelTC true in exact h", "set_option debug."),
        ("set_option  debug.skipKernelTC true in exact h", "set_option debug."),
        ("by_elab return default", "by_elab"),
    ],
)
def test_each_default_token_is_banned(text: str, token: str) -> None:
    assert POLICY.find(text) == token


def test_every_default_token_is_covered_by_the_table() -> None:
    assert len(DEFAULT_BANNED) == 15


@pytest.mark.parametrize("text", ["exact sorry_lemma h", "simp [admitted]", "exact h.axioms", "norm_num", "exact hIO", "linarith [apply_fun]", "omega +native_like"])
def test_longer_identifiers_are_allowed(text: str) -> None:
    assert POLICY.allows(text), POLICY.find(text)


def test_custom_policy() -> None:
    policy = BannedTokens.of(["omega"])
    assert policy.find("omega") == "omega"
    assert policy.allows("sorry")
    assert BannedTokens.of([]).allows("sorry")
