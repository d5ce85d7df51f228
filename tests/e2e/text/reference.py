"""Test references for Retort's tokenizers, built with Hugging Face `tokenizers` and `gguf`
(never used by the product). Subcommands:
  train-bpe CORPUS OUT.json [STYLE]  train a byte-level BPE tokenizer.json on CORPUS; STYLE gpt2
                                     (ByteLevel's own regex) or llama3 (Llama 3's Split regex,
                                     ByteLevel without regex, ignore_merges)
  gguf-to-json GGUF OUT.json         the GGUF's tokens + merges as a `tokenizers` BPE with the
                                     pre-tokenizer llama.cpp uses for tokenizer.ggml.pre "smollm"
  compare TOKENIZER.json TEXT IDS    exit 1 (first difference shown) unless IDS (a JSON array)
                                     equals tokenizers' encode(TEXT, add_special_tokens=False)
  encode TOKENIZER.json TEXT OUT     write tokenizers' ids of TEXT as a JSON array
"""
import json
import sys

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers, AddedToken

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Llama 3's tokenizer.json split, as Meta ships it.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_bpe(corpus, out, style="gpt2"):
    tok = Tokenizer(models.BPE())
    if style == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([corpus], trainer)
    tok.save(out)
    if style == "llama3":
        with open(out) as f:
            j = json.load(f)
        j["model"]["ignore_merges"] = True
        with open(out, "w") as f:
            json.dump(j, f)


def gguf_to_json(path, out):
    from gguf import GGUFReader
    reader = GGUFReader(path)

    def strings(key):
        f = reader.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def ints(key):
        f = reader.fields[key]
        return [int(f.parts[i][0]) for i in f.data]

    assert strings("tokenizer.ggml.pre") == ["smollm"], "this conversion is for the smollm pre-tokenizer"
    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ")) for m in strings("tokenizer.ggml.merges")]
    types = ints("tokenizer.ggml.token_type")
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    # llama.cpp's smollm pre-tokenizer: split off every \p{N}, then GPT-2's regex.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    # Control (3) and user-defined (4) tokens are special, matched in text first.
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i, t in enumerate(types) if t in (3, 4)])
    tok.save(out)


def encode(tokenizer, text_path):
    tok = Tokenizer.from_file(tokenizer)
    with open(text_path, encoding="utf-8", newline="") as f:
        text = f.read()
    return text, tok.encode(text, add_special_tokens=False).ids


def compare(tokenizer, text_path, ids_path):
    text, want = encode(tokenizer, text_path)
    with open(ids_path) as f:
        got = json.load(f)
    if got == want:
        return 0
    n = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    tok = Tokenizer.from_file(tokenizer)
    print(f"{text_path}: ids differ at {n} (retort {len(got)} ids, tokenizers {len(want)})")
    print("  retort:    ", got[max(0, n - 3):n + 5], [tok.id_to_token(i) for i in got[max(0, n - 3):n + 5]])
    print("  tokenizers:", want[max(0, n - 3):n + 5], [tok.id_to_token(i) for i in want[max(0, n - 3):n + 5]])
    return 1


def main(argv):
    cmd = argv[1]
    if cmd == "train-bpe":
        train_bpe(*argv[2:5])
    elif cmd == "gguf-to-json":
        gguf_to_json(argv[2], argv[3])
    elif cmd == "compare":
        return compare(argv[2], argv[3], argv[4])
    elif cmd == "encode":
        _, ids = encode(argv[2], argv[3])
        with open(argv[4], "w") as f:
            json.dump(ids, f)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
