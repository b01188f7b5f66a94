"""统一社会信用代码 (GB 32100-2015) as the app checks it (``crm.enterprises.domain.uscc_error``, used by the
enterprise form, the API, the list import and the partner catalogue): every well-formed code with its check
character computed here — independently of python-stdnum — is accepted, however it is spaced or cased; every
code with one character changed, two neighbours swapped, or a character too many or too few is refused with a
Chinese message.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from crm.enterprises.domain import normalise_uscc, uscc_error
from tests.properties.support import PROPERTY

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^i mod 31


def check_character(body: str) -> str:
    total = sum(ALPHABET.index(char) * weight for char, weight in zip(body, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


digits = st.text(alphabet="0123456789", min_size=8, max_size=8)
rest = st.text(alphabet=ALPHABET, min_size=9, max_size=9)
valid_codes = st.builds(lambda head, tail: head + tail + check_character(head + tail), digits, rest)


def test_the_weights_are_powers_of_three_modulo_31():
    """The standard's weights, so that the checks below test the standard, not a copy of the app's code."""
    assert tuple(pow(3, i, 31) for i in range(17)) == WEIGHTS
    assert check_character("91110000600037341") == "L"  # a published code: 91110000600037341L
    assert uscc_error("91110000600037341L") is None


@PROPERTY
@given(valid_codes)
def test_a_code_with_its_check_character_is_accepted(code):
    assert uscc_error(code) is None
    assert normalise_uscc(code) == code


@PROPERTY
@given(valid_codes, st.data())
def test_spacing_and_case_do_not_matter(code, data):
    cut = data.draw(st.integers(min_value=1, max_value=17))
    written = f"  {code[:cut].lower()} -{code[cut:]} "
    assert uscc_error(written) is None
    assert normalise_uscc(written) == code


@PROPERTY
@given(valid_codes, st.integers(min_value=0, max_value=17), st.sampled_from(ALPHABET))
def test_one_character_changed_is_refused(code, position, replacement):
    assume(code[position] != replacement)
    changed = code[:position] + replacement + code[position + 1:]
    problem = uscc_error(changed)
    assert problem is not None and "统一社会信用代码" in problem


@PROPERTY
@given(valid_codes, st.integers(min_value=0, max_value=15))
def test_two_neighbours_swapped_are_refused(code, position):
    assume(code[position] != code[position + 1])
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
    assert uscc_error(swapped) is not None


@PROPERTY
@given(valid_codes, st.integers(min_value=0, max_value=17), st.sampled_from("IOZSV"))
def test_a_letter_the_standard_leaves_out_is_refused(code, position, letter):
    problem = uscc_error(code[:position] + letter + code[position + 1:])
    assert problem is not None and "格式不正确" in problem


@PROPERTY
@given(valid_codes, st.integers(min_value=0, max_value=17), st.booleans())
def test_a_character_too_many_or_too_few_is_refused_naming_the_length(code, position, drop):
    other = code[:position] + code[position + 1:] if drop else code[:position] + "0" + code[position:]
    assert uscc_error(other) == f"统一社会信用代码应为18位,当前为{len(other)}位"
