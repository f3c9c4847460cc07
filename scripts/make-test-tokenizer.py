"""Writes tests/fixtures/tokenizer/: the word-level tokenizer aiperf uses against `profcmp serve`.

One token per whitespace-separated word, so aiperf's token counts equal `profcmp serve`'s
(core/src/endpoint/prompt.rs). The vocabulary is profcmp's prompt words plus `[UNK]`, which is an
ordinary (not special) token: aiperf decodes corpus words it does not know to the text `[UNK]`,
and that text encodes back to one token. Needs the `tokenizers` package
(`pip install tokenizers`); run from the repository root.
"""
import json
import pathlib
import re

from tokenizers import Tokenizer, models, pre_tokenizers

root = pathlib.Path(__file__).resolve().parent.parent
source = (root / "core/src/endpoint/prompt.rs").read_text()
block = source[source.index("pub const WORDS"):]
block = block[block.index("= [") : block.index("];")]
words = re.findall(r'"([a-z]+)"', block)
vocab = {"[UNK]": 0}
for word in words:
    vocab.setdefault(word, len(vocab))

tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
out = root / "tests/fixtures/tokenizer"
out.mkdir(parents=True, exist_ok=True)
tokenizer.save(str(out / "tokenizer.json"), pretty=True)
config = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "model_max_length": 1000000,
    "clean_up_tokenization_spaces": False,
}
(out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

check = Tokenizer.from_file(str(out / "tokenizer.json"))
assert len(check.encode("the of and [UNK] zebra, too").ids) == 6
print(f"wrote {out} ({len(vocab)} tokens)")
