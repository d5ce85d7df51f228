"""Writes the hard test strings of the tokenizer reference tests into DIR/hard-NN.txt, one per
file: emoji (with ZWJ and skin tones), CJK, combining marks, runs of spaces/tabs/newlines,
contractions in both cases, long digit runs, Unicode whitespace (NEL, NBSP, U+3000), special
tokens written in text, and a mix. Usage: hard_strings.py DIR"""
import os
import sys

HARD = [
    "Hello world! 👋🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🤖🧠",
    "中文分词测试：今天天气很好。日本語のテキスト、カタカナ。한국어 문장입니다.",
    "e\u0301 n\u0303 a\u030a Zalgo: Z\u0351\u036b\u0343a\u0342l\u0350g\u0352o\u0344 café naïve",
    "a  b   c    d\t\te\n\nf\n\n\n\ng    \n  \n\t \r\n end   ",
    "I'm sure you'll see it's what we'd do; they've, we're. I'M YOU'LL IT'S WE'D THEY'VE 'S 'll",
    "1234567890123456789 3.14159265358979 1,000,000 2024-01-01 0x7fffffff 00000",
    "nel\u0085nel\u0085\u0085x nbsp\u00a0\u00a0y ideo\u3000\u3000z line\u2028para\u2029end",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|><|endoftext|>",
    "<|im_start|><|im_start|>x<|im_end|> <|endoftext|>text<|endoftext|>",
    "Ωμέγα Привет мир! مرحبا بالعالم שלום עולם हिन्दी ไทย ελληνικά",
    "def f(x):\n    return x ** 2  # comment\n\tif x != 0: print(f'{x:>10}')\n",
    "   leading spaces and trailing newline\n",
    "!!!??? ... --- *** $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} ||| \\\\\\ /// ~~~ ```",
    "\U0001F600\U0001F601 \U00010348 \U0001D11E mathematical 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for i, s in enumerate(HARD):
    with open(os.path.join(out, f"hard-{i:02d}.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(s)
