"""Payment references: format, entropy, error detection of the check symbol, and narrative search."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.reference import (
    ALPHABET,
    _step,
    check_symbol,
    find_reference_in_narrative,
    is_valid_reference,
    new_reference,
)

references = st.text(st.sampled_from(ALPHABET), min_size=10, max_size=10).map(
    lambda body: "CP" + body + check_symbol("CP" + body)
)


def test_alphabet_is_crockford_base32() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert ALPHABET.isalnum() and ALPHABET.isupper() and ALPHABET.isascii()


def test_new_reference_shape() -> None:
    reference = new_reference()
    assert len(reference) == 13
    assert reference.startswith("CP")
    assert set(reference) <= set(ALPHABET)
    assert is_valid_reference(reference)


def test_new_reference_with_other_prefix() -> None:
    reference = new_reference("PK")
    assert is_valid_reference(reference, "PK")
    assert not is_valid_reference(reference)


@pytest.mark.parametrize("prefix", ["", "cp", "CO", "C-P"])
def test_prefix_outside_the_alphabet_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_reference(prefix)


def test_references_do_not_repeat_in_a_large_sample() -> None:
    # 50 random bits: a repeat among 20,000 would mean the randomness is broken, not bad luck (p ≈ 2e-7).
    sample = [new_reference() for _ in range(20_000)]
    assert len(set(sample)) == len(sample)
    # Every symbol is used in every random position.
    for position in range(2, 12):
        assert {reference[position] for reference in sample} == set(ALPHABET)


@pytest.mark.parametrize(
    "text",
    ["", "CP", "cp7k9m2qx4vt5", "CP7K9M2QX4VT", "CP7K9M-2QX4VT5", "XX7K9M2QX4VT5", "CP7K9M2QX4VTOO"],
)
def test_malformed_references_are_invalid(text: str) -> None:
    assert not is_valid_reference(text)


def test_quasigroup_detects_every_substitution_and_adjacent_transposition() -> None:
    # The algebraic facts the check symbol rests on, checked exhaustively over all 32 symbols.
    for interim in range(32):
        row = [_step(interim, symbol) for symbol in range(32)]
        column = [_step(symbol, interim) for symbol in range(32)]
        assert sorted(row) == sorted(column) == list(range(32))
    for interim, x, y in itertools.product(range(32), repeat=3):
        if x != y:
            assert _step(_step(interim, x), y) != _step(_step(interim, y), x)


@given(references)
def test_every_single_substitution_is_detected(reference: str) -> None:
    assert is_valid_reference(reference)
    for position, replacement in itertools.product(range(len(reference)), ALPHABET):
        if replacement != reference[position]:
            changed = reference[:position] + replacement + reference[position + 1 :]
            assert not is_valid_reference(changed), changed


@given(references)
def test_every_adjacent_transposition_is_detected(reference: str) -> None:
    for position in range(len(reference) - 1):
        a, b = reference[position], reference[position + 1]
        if a != b:
            swapped = reference[:position] + b + a + reference[position + 2 :]
            assert not is_valid_reference(swapped), swapped


def test_finds_reference_damaged_by_bank_narrative_handling() -> None:
    body = "CP7K9M2QX4VT"
    reference = body + check_symbol(body)
    spaced = f"{reference[:6]}-{reference[6:10]} {reference[10:]}"
    assert find_reference_in_narrative(f"CK den {spaced} thanh toan") == reference
    assert find_reference_in_narrative(f"ck den {spaced.lower()}thanh toan") == reference
    assert find_reference_in_narrative(f"MBVCB.123456.{reference}.CT tu 0011001234567") == reference


def test_finds_reference_typed_with_lookalike_letters() -> None:
    body = "CP0K1M2QX4VT"
    reference = body + check_symbol(body)
    assert find_reference_in_narrative(reference.replace("0", "O").replace("1", "l")) == reference


def test_narrative_without_a_valid_reference() -> None:
    assert find_reference_in_narrative("") is None
    assert find_reference_in_narrative("chuyen tien CP") is None
    reference = new_reference()
    broken = reference[:-1] + next(s for s in ALPHABET if s != reference[-1])
    assert find_reference_in_narrative(f"thanh toan {broken}") is None


def test_skips_a_candidate_that_fails_its_check() -> None:
    reference = new_reference()
    decoy = reference[:-1] + next(s for s in ALPHABET if s != reference[-1])
    assert find_reference_in_narrative(f"{decoy} sai, dung la {reference}") == reference


# Noise without C or c cannot start another "CP" window, so the first valid reference is ours.
_noise_chars = st.sampled_from("ABDEFGHJKMNPQRSTVWXYZ0123456789 abđêôươăáàảãạ-./_:")
_separators = st.sampled_from([" ", "-", ".", "  ", " - ", "/"])


@given(references, st.data())
def test_finds_reference_in_noise_with_separators(reference: str, data: st.DataObject) -> None:
    damaged = ""
    for symbol in reference:
        damaged += symbol.lower() if data.draw(st.booleans()) else symbol
        if data.draw(st.integers(0, 3)) == 0:
            damaged += data.draw(_separators)
    before = data.draw(st.text(_noise_chars, max_size=40))
    after = data.draw(st.text(_noise_chars | st.sampled_from("Cc"), max_size=40))
    assert find_reference_in_narrative(before + damaged + after) == reference
