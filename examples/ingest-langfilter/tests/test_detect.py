"""The detector on its own: right language, honest numbers."""

from __future__ import annotations

import pytest
from ingest_langfilter import detect
from ingest_langfilter.profiles import NAMES, PROFILES

from samples import SAMPLES


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_each_language_is_recognised_with_a_clear_margin(code):
    found = detect(SAMPLES[code])
    assert found.language == code
    assert found.score > 0.3 and found.confidence > 0.4
    assert found.runner_up != code


def test_every_profile_has_a_name_and_a_sample():
    assert set(PROFILES) == set(NAMES) == set(SAMPLES)


def test_text_without_stop_words():
    assert detect("").language is None
    found = detect("Apple banana cherry grape melon 2025")
    assert (found.language, found.score, found.words) == (None, 0.0, 5)


def test_case_punctuation_and_elision_do_not_matter():
    text = "L'entreprise QUI a remporté le marché, et la ville; dans l'après-midi."
    assert detect(text).language == "fr"


def test_ties_resolve_the_same_way_every_time():
    assert {detect("de la").language for _ in range(5)} == {detect("de la").language}
