"""The embedded model's character-level tokenizer (Hugging Face `tokenizers`, tokenizer.json).

One token per character for printable ASCII, newline and tab. It is laid out as Qwen2's own
byte-level BPE pipeline (NFC, Qwen's split regex, ByteLevel) with a 256-byte vocabulary and no
merges, because transformers 5 loads any checkpoint whose model_type is "qwen2" with
Qwen2Tokenizer, which rebuilds exactly that pipeline from the vocabulary and ignores a custom
one: a char tokenizer of another shape silently dropped spaces when reloaded. Laid out this way,
tokenizer.json gives the same ids under Qwen2Tokenizer, PreTrainedTokenizerFast (transformers
4) and vLLM. A character outside ASCII becomes its UTF-8 bytes (lossless), never an error.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
UNK_TOKEN = "<|unk|>"  # set because callers expect one; byte coverage means it never appears
SPECIAL_TOKENS = (EOS_TOKEN, PAD_TOKEN, UNK_TOKEN)
CHARACTERS = "\t\n" + "".join(chr(code) for code in range(0x20, 0x7F))  # one token each
VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # bytes are ids 0-255 (an ASCII char's id is its code)
# transformers' Qwen2Tokenizer.PRETOKENIZE_REGEX, copied so both pipelines are the same.
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Plain "prompt then reply" (no role markers: the tiny model is trained on raw prompts), so
# `apply_chat_template` works for callers that ask for chat formatting.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}\n{% endfor %}"


@cache
def _byte_symbols() -> tuple[str, ...]:
    """GPT-2's byte -> printable-unicode table, the alphabet of the ByteLevel pre-tokenizer."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return tuple(symbols[byte] for byte in range(256))


def vocab() -> dict[str, int]:
    table = {symbol: byte for byte, symbol in enumerate(_byte_symbols())}
    table.update({token: 256 + i for i, token in enumerate(SPECIAL_TOKENS)})
    return table


def build_char_tokenizer():
    """A PreTrainedTokenizerFast with eos/pad/unk set (bos: none, like Qwen2)."""
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(vocab=vocab(), merges=[], fuse_unk=False, byte_fallback=False))
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=1 << 16,
        # The default cleanup would turn "3 ." into "3." and break decode(encode(x)) == x.
        clean_up_tokenization_spaces=False,
        chat_template=CHAT_TEMPLATE,
    )


def save_char_tokenizer(directory: str | Path) -> None:
    """Write tokenizer.json, tokenizer_config.json and the chat template into directory."""
    build_char_tokenizer().save_pretrained(str(directory))
    # Name the class real Qwen2 checkpoints name: transformers 4 then loads the fast tokenizer
    # from tokenizer.json, transformers 5 picks Qwen2Tokenizer for model_type qwen2 anyway.
    config_path = Path(directory) / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
