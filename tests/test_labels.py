"""Label spaces: the registry, the mapping tables (never guessing), sample rules, user-declared spaces."""

from __future__ import annotations

import json

import pytest

from xmer.data.labels import (
    FROM_EKMAN7,
    GOEMOTIONS_EKMAN,
    LABEL_SPACES,
    NO_CLASS,
    SENTIMENT_SPACES,
    TO_EKMAN7,
    LabelSpace,
    get_label_space,
    load_label_space,
    map_label,
    map_sample,
    sentiment_label,
)
from xmer.data.sources import SOURCES
from xmer.errors import ConfigError


def test_required_spaces():
    assert LABEL_SPACES["mosei6"].labels == ("happy", "sad", "anger", "surprise", "disgust", "fear")
    assert LABEL_SPACES["mosei6"].multi_label
    assert LABEL_SPACES["iemocap4"].labels == ("angry", "happy", "sad", "neutral")
    assert LABEL_SPACES["ekman7"].labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert not LABEL_SPACES["iemocap4"].multi_label and not LABEL_SPACES["ekman7"].multi_label


@pytest.mark.parametrize("space", sorted(TO_EKMAN7))
def test_every_table_covers_its_space_exactly(space):
    assert set(TO_EKMAN7[space]) == set(LABEL_SPACES[space].labels)
    assert {v for v in TO_EKMAN7[space].values() if v is not None} <= set(LABEL_SPACES["ekman7"].labels)


def test_every_emotion_space_has_a_table_and_every_source_a_known_space():
    emotion_spaces = set(LABEL_SPACES) - set(SENTIMENT_SPACES)
    assert emotion_spaces == set(TO_EKMAN7)
    for target, table in FROM_EKMAN7.items():
        assert set(table) == set(LABEL_SPACES["ekman7"].labels)
        assert {v for v in table.values() if v not in (None, NO_CLASS)} <= set(LABEL_SPACES[target].labels)
    for source in SOURCES.values():
        assert source.native_space is None or source.native_space in LABEL_SPACES
        assert source.default_space in LABEL_SPACES


@pytest.mark.parametrize(
    "label, source, target, expected",
    [
        ("calm", "ravdess8", "ekman7", None),  # dropped, never guessed
        ("calm", "ravdess8", "iemocap4", None),
        ("fearful", "ravdess8", "ekman7", "fear"),
        ("exc", "iemocap10", "iemocap4", "happy"),  # the 4-class protocol
        ("fru", "iemocap10", "iemocap4", None),
        ("joy", "semeval11", "ekman7", "happy"),
        ("optimism", "semeval11", "ekman7", None),
        ("joy", "semeval11", "mosei6", "happy"),
        ("anger", "semeval11", "mosei6", "anger"),
        ("curiosity", "goemotions28", "ekman7", "surprise"),  # the release's Ekman mapping
        ("nervousness", "goemotions28", "ekman7", "fear"),
        ("neutral", "goemotions28", "ekman7", "neutral"),
        ("neutral", "ekman7", "mosei6", NO_CLASS),
        ("disgust", "ekman7", "iemocap4", None),
        ("contempt", "ckplus7", "ekman7", None),
        ("boredom", "emodb7", "ekman7", None),
        ("pleasant_surprise", "tess7", "ekman7", "surprise"),
        ("anger", "mosei6", "iemocap4", "angry"),
        ("sad", "iemocap4", "iemocap4", "sad"),
    ],
)
def test_map_label(label, source, target, expected):
    assert map_label(label, source, target) == expected


def test_goemotions_table_follows_the_release_mapping():
    groups = {"anger": "angry", "disgust": "disgust", "fear": "fear", "joy": "happy", "sadness": "sad", "surprise": "surprise"}
    for group, labels in GOEMOTIONS_EKMAN.items():
        for label in labels:
            assert map_label(label, "goemotions28", "ekman7") == groups[group]
    assert sum(len(v) for v in GOEMOTIONS_EKMAN.values()) == 27


def test_map_label_errors():
    with pytest.raises(ConfigError, match="not a class"):
        map_label("joy", "ekman7", "iemocap4")
    with pytest.raises(ConfigError, match="no mapping"):
        map_label("positive", "sentiment2", "ekman7")
    with pytest.raises(ConfigError, match="native space"):
        map_label("happy", "ekman7", "ravdess8")
    with pytest.raises(ConfigError, match="unknown label space"):
        map_label("happy", "ekman7", "nonsense")


@pytest.mark.parametrize(
    "labels, source, target, expected",
    [
        ("calm", "ravdess8", "ekman7", (None, "no ekman7 class for 'calm'")),
        ("happy", "ravdess8", "mosei6", (["happy"], None)),
        ("neutral", "ravdess8", "mosei6", ([], None)),
        (["joy", "optimism"], "semeval11", "ekman7", ("happy", None)),  # optimism says nothing about ekman7
        (["joy", "sadness"], "semeval11", "ekman7", (None, "several ekman7 classes")),
        (["optimism", "trust"], "semeval11", "ekman7", (None, "no ekman7 class for any of its labels")),
        ([], "semeval11", "ekman7", (None, "no ekman7 class (no emotion labelled)")),
        ([], "semeval11", "mosei6", ([], None)),
        (["joy", "anger"], "goemotions28", "mosei6", (["happy", "anger"], None)),  # in the space's order
        (["admiration", "joy"], "goemotions28", "ekman7", ("happy", None)),
        (("happy", "sad"), "mosei6", "iemocap4", (None, "several iemocap4 classes")),
        ((), "mosei6", "ekman7", (None, "no ekman7 class (no emotion labelled)")),
    ],
)
def test_map_sample(labels, source, target, expected):
    assert map_sample(labels, source, target) == expected


def test_sentiment_label():
    assert sentiment_label(1.4, "sentiment2") == ("positive", None)
    assert sentiment_label(-0.2, "sentiment2") == ("negative", None)
    assert sentiment_label(0.0, "sentiment2")[0] is None
    assert sentiment_label(0.0, "sentiment3") == ("neutral", None)
    with pytest.raises(ConfigError):
        sentiment_label(1.0, "ekman7")


def test_user_space_from_yaml_with_aliases(tmp_path):
    path = tmp_path / "my5.yaml"
    path.write_text(
        "name: my5\nlabels: [angry, happy, sad, neutral, calm]\nmulti_label: false\n"
        "aliases:\n  happy: [joy, 'iemocap10:exc']\n  calm: ['ravdess8:calm']\n"
    )
    space = get_label_space(path)
    assert space.name == "my5" and space.labels[-1] == "calm" and not space.multi_label
    assert map_label("calm", "ravdess8", space) == "calm"
    assert map_label("joy", "semeval11", space) == "happy"
    assert map_label("exc", "iemocap10", space) == "happy"
    assert map_label("hap", "iemocap10", space) is None  # only exact names and declared aliases
    assert map_label("angry", "ekman7", space) == "angry"
    # a prepared set in the user's space, mixed into an ekman7 run: exact names only
    assert map_label("angry", space, "ekman7") == "angry"
    assert map_label("calm", space, "ekman7") is None


def test_label_space_validation():
    with pytest.raises(ConfigError, match="distinct"):
        LabelSpace("x", ("a", "a"), False)


def test_user_space_from_json(tmp_path):
    path = tmp_path / "pos.json"
    path.write_text(json.dumps({"name": "valence", "labels": ["pleasant", "unpleasant"], "multi_label": True,
                                "aliases": {"pleasant": ["happy", "joy"], "unpleasant": ["sad", "angry", "anger"]}}))
    space = load_label_space(path)
    assert space.multi_label
    assert map_sample(["joy", "anger"], "semeval11", space) == (["pleasant", "unpleasant"], None)
    assert space.to_json()["aliases"]["pleasant"] == ["happy", "joy"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("name: a\nlabels: [x, y]\ncolour: red\n", "unknown key"),
        ("labels: [x, y]\n", "missing key"),
        ("name: ekman7\nlabels: [x, y]\n", "built-in"),
        ("name: a\nlabels: [x, x]\n", "distinct"),
        ("name: a\nlabels: [x, y]\naliases: {z: [w]}\n", "unknown class"),
        ("name: a\nlabels: [x, y]\nmulti_label: maybe\n", "true or false"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_user_space_errors(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_label_space(path)


def test_missing_space_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        get_label_space(tmp_path / "none.yaml")
