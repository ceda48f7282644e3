from hypothesis import given
from hypothesis import strategies as st

from common.logref import uid_ref


@given(st.from_regex(r"[12](\.[1-9][0-9]{0,8}){2,12}", fullmatch=True))
def test_a_reference_is_stable_short_and_never_contains_the_uid(uid: str) -> None:
    ref = uid_ref(uid)
    assert ref == uid_ref(uid) and ref.startswith("uid#") and len(ref) == 16
    assert uid not in ref


def test_different_uids_get_different_references_and_empty_is_named() -> None:
    assert uid_ref("1.2.3.4") != uid_ref("1.2.3.5")
    assert uid_ref("") == uid_ref(None) == "uid#none"
