"""Tool calls written as text: every supported form is recovered, prose is not.

``REAL_*`` are verbatim answers of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M,
llama.cpp server, no native tool calls) to agentd's own system prompt and
tools; ``SHAPED_*`` follow the shapes that model was seen to write (a fenced
call, a plan with invented results, ``<tools><function name=...>``).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentd.textcalls import broken_call, recover_calls

TOOLS = ("web_search", "fetch_page", "read_file", "write_file", "send_webhook", "finish")


def calls(text: str, tools=TOOLS) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in recover_calls(text, tools)]


W = ("write_file", {"path": "facts.md", "content": "# Mars\n- red"})

# -------------------------------------------------------------- real answers
SHAPED_FENCED = '''```json
{
  "name": "write_file",
  "arguments": {
    "path": "facts.md",
    "content": "# Facts about Mars\\n\\n1. Mars is the fourth planet from the Sun."
  }
}
```'''

SHAPED_PLAN = '''```json
{"name": "read_file", "arguments": {"path": "numbers.txt"}}
```

Output:
```
3
5
8
```

```json
{"name": "write_file", "arguments": {"path": "sum.txt", "content": "16"}}
```

```json
{"name": "finish", "arguments": {"summary": "The sum is 16, written to sum.txt."}}
```'''

SHAPED_TOOLS_TAG = '''<tools>
<function name="fetch_page">
{"url": "http://127.0.0.1:9/news.html"}
</function>
</tools>'''


# With the objective in the first user message it acted (max_chars: null came with it).
REAL_READ = '```json\n{\n  "name": "read_file",\n  "arguments": {\n    "path": "numbers.txt",\n    "offset": 0,\n    "max_chars": null\n  }\n}\n```'
# After the result came back in a user message: the next call (the sum is right).
REAL_WRITE_FENCED = '```json\n{\n  "name": "write_file",\n  "arguments": {\n    "path": "sum.txt",\n    "content": "3 + 5 + 8 = 16",\n    "append": false\n  }\n}\n```'
# After the result came back as a native tool message: a bare object (the numbers, not their sum).
REAL_WRITE_BARE = '{"name": "write_file", "arguments": {"path": "sum.txt", "content": "3\\n5\\n8", "append": false}}\n'

# The old first user message ("Start the run r123, triggered by manual") made it invent a tool.
REAL_INVENTED_TOOL = ('```json\n{\n  "name": "start_run",\n  "arguments": {\n    "run_id": "r123",\n'
                      '    "trigger": "manual"\n  }\n}\n```')


@pytest.mark.parametrize("text, expected", [
    (REAL_READ, [("read_file", {"path": "numbers.txt", "offset": 0, "max_chars": None})]),
    (REAL_WRITE_FENCED, [("write_file", {"path": "sum.txt", "content": "3 + 5 + 8 = 16", "append": False})]),
    (REAL_WRITE_BARE, [("write_file", {"path": "sum.txt", "content": "3\n5\n8", "append": False})]),
    (SHAPED_FENCED, [("write_file", {"path": "facts.md",
                                   "content": "# Facts about Mars\n\n1. Mars is the fourth planet from the Sun."})]),
    (SHAPED_PLAN, [("read_file", {"path": "numbers.txt"})]),
    (SHAPED_TOOLS_TAG, [("fetch_page", {"url": "http://127.0.0.1:9/news.html"})]),
    # Hermes / Qwen tags, closed and cut at the end
    ('<tool_call>\n{"name": "write_file", "arguments": {"path": "facts.md", "content": "# Mars\\n- red"}}\n</tool_call>',
     [W]),
    ('<tool_call>{"name": "write_file", "arguments": {"path": "facts.md", "content": "# Mars\\n- red"}}', [W]),
    ('<tool_call>{"name": "finish"}</tool_call>', [("finish", {})]),
    # two adjacent tags: one batch, like native parallel calls
    ('<tool_call>{"name": "fetch_page", "arguments": {"url": "http://a"}}</tool_call>\n'
     '<tool_call>{"name": "fetch_page", "arguments": {"url": "http://b"}}</tool_call>',
     [("fetch_page", {"url": "http://a"}), ("fetch_page", {"url": "http://b"})]),
    # bare object, parameters key, arguments as a JSON string, raw newlines inside a string
    ('{"name": "read_file", "parameters": {"path": "n.txt"}}', [("read_file", {"path": "n.txt"})]),
    ('{"name": "read_file", "arguments": "{\\"path\\": \\"n.txt\\"}"}', [("read_file", {"path": "n.txt"})]),
    ('{"name": "write_file", "arguments": {"path": "facts.md", "content": "# Mars\n- red"}}', [W]),
    # prose around a bare object (the smolagents-style "Action:" line too)
    ('I will read the file first.\nAction: {"name": "read_file", "arguments": {"path": "n.txt"}}',
     [("read_file", {"path": "n.txt"})]),
    # OpenAI wire shape, a list of calls, fences of every call language
    ('{"type": "function", "function": {"name": "read_file", "arguments": "{\\"path\\": \\"n.txt\\"}"}}',
     [("read_file", {"path": "n.txt"})]),
    ('[{"name": "read_file", "arguments": {"path": "a"}}, {"name": "read_file", "arguments": {"path": "b"}}]',
     [("read_file", {"path": "a"}), ("read_file", {"path": "b"})]),
    ('```\n{"name": "read_file", "arguments": {"path": "a"}}\n```', [("read_file", {"path": "a"})]),
    ('```tool_call\n{"name": "read_file", "arguments": {"path": "a"}}\n```', [("read_file", {"path": "a"})]),
    # function tags: JSON body, parameter tags (both spellings), no body
    ('<function=read_file>{"path": "a"}</function>', [("read_file", {"path": "a"})]),
    ('<function=write_file>\n<parameter=path>\nfacts.md\n</parameter>\n<parameter=content>\n# Mars\n- red\n'
     '</parameter>\n</function>', [W]),
    ('<function name="read_file"><parameter name="path">a</parameter></function>', [("read_file", {"path": "a"})]),
    ('<tool_call>\n<function=read_file>\n<parameter=path>\na\n</parameter>\n</function>\n</tool_call>',
     [("read_file", {"path": "a"})]),
    # spelling variants that differ only in case or separators
    ('{"name": "Write-File", "arguments": {"path": "facts.md", "content": "# Mars\\n- red"}}', [W]),
    ('{"name": "readFile", "arguments": {"path": "a"}}', [("read_file", {"path": "a"})]),
    # a finish in a batch with other calls is left for later
    ('[{"name": "read_file", "arguments": {"path": "a"}}, {"name": "finish", "arguments": {"summary": "x"}}]',
     [("read_file", {"path": "a"})]),
    ('{"name": "finish", "arguments": {"summary": "Wrote facts.md."}}', [("finish", {"summary": "Wrote facts.md."})]),
])
def test_recovered(text, expected):
    assert calls(text) == expected


@pytest.mark.parametrize("text", [
    REAL_INVENTED_TOOL,
    "",
    "Start the run r123, triggered by manual. Work towards the objective.",
    "I wrote the three facts to facts.md. The file is JSON-free markdown.",
    # a summary with a JSON example of the data (not a call)
    'Done. The metrics file looks like this:\n```json\n{"stars": 12, "issues": 3}\n```',
    '{"path": "facts.md", "content": "x"}',  # arguments without a name
    # a data object that happens to have a name
    '{"name": "Mars", "arguments": {"moons": 2}}',
    '{"name": "write_file", "arguments": {"path": "a"}, "result": "ok"}',  # extra keys: a log record
    # unknown tools, edit-distance neighbours included
    '{"name": "start_run", "arguments": {"id": "r123"}}',
    '<tool_call>{"name": "write_files", "arguments": {"path": "a"}}</tool_call>',
    '{"name": "read", "arguments": {"path": "a"}}',
    # a call in a code sample of another language
    '```python\ncall({"name": "read_file", "arguments": {"path": "a"}})\n```',
    # the call nested inside other data
    '{"log": [{"name": "read_file", "arguments": {"path": "a"}}]}',
    # malformed JSON, single quotes, arguments that are not an object
    '{"name": "read_file", "arguments": {"path": "a"}',
    "{'name': 'read_file', 'arguments': {'path': 'a'}}",
    '{"name": "read_file", "arguments": ["a"]}',
    '{"name": "read_file", "arguments": "not json"}',
    # a bare JSON object must carry its arguments key
    '{"name": "finish"}',
    # a list mixing calls and data is data
    '[{"name": "read_file", "arguments": {"path": "a"}}, 3]',
    "I used write_file to save facts.md and then called finish.",
])
def test_not_a_call(text):
    assert recover_calls(text, TOOLS) == []


def test_no_tools_no_calls():
    assert recover_calls('{"name": "read_file", "arguments": {}}', ()) == []


def test_ambiguous_spelling_is_not_guessed():
    assert recover_calls('{"name": "readfile", "arguments": {}}', ("read_file", "read-file")) == []


def test_ids_are_deterministic_per_text_and_differ_between_texts():
    a = recover_calls('{"name": "read_file", "arguments": {"path": "a"}}', TOOLS)
    b = recover_calls('{"name": "read_file", "arguments": {"path": "b"}}', TOOLS)
    assert a == recover_calls('{"name": "read_file", "arguments": {"path": "a"}}', TOOLS)
    assert a[0].id.startswith("text-") and a[0].id != b[0].id
    two = recover_calls('[{"name": "read_file", "arguments": {}}, {"name": "read_file", "arguments": {}}]', TOOLS)
    assert len({c.id for c in two}) == 2


def test_plan_with_invented_results_yields_only_the_first_call():
    text = ('<tool_call>{"name": "read_file", "arguments": {"path": "n.txt"}}</tool_call>\n'
            'Result: 1 2 3\n'
            '<tool_call>{"name": "write_file", "arguments": {"path": "s.txt", "content": "6"}}</tool_call>')
    assert calls(text) == [("read_file", {"path": "n.txt"})]


def test_arguments_are_compact_json():
    [c] = recover_calls('{"name": "read_file", "arguments": {"path":   "é"}}', TOOLS)
    assert c.arguments == '{"path":"é"}'


# -------------------------------------------------------------- properties
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=30))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)
arguments = st.dictionaries(st.text(min_size=1, max_size=10), json_value, max_size=4)


def _render(form: str, name: str, args: dict) -> str:
    obj = json.dumps({"name": name, "arguments": args})
    return {
        "tool_call": f"<tool_call>\n{obj}\n</tool_call>",
        "fenced_json": f"```json\n{obj}\n```",
        "fenced": f"```\n{obj}\n```",
        "bare": obj,
        "bare_in_prose": f"Let me do that.\n{obj}",
        "parameters": json.dumps({"name": name, "parameters": args}),
        "string_args": json.dumps({"name": name, "arguments": json.dumps(args)}),
        "list": f"[{obj}]",
        "function_eq": f"<function={name}>{json.dumps(args)}</function>",
        "function_name": f'<tools>\n<function name="{name}">\n{json.dumps(args)}\n</function>\n</tools>',
        "openai": json.dumps({"type": "function", "function": {"name": name, "arguments": json.dumps(args)}}),
    }[form]


FORMS = ["tool_call", "fenced_json", "fenced", "bare", "bare_in_prose", "parameters", "string_args", "list",
         "function_eq", "function_name", "openai"]


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(FORMS), name=st.sampled_from(TOOLS), args=arguments)
def test_any_call_in_any_form_round_trips(form, name, args):
    text = _render(form, name, args)
    found = recover_calls(text, TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in found] == [(name, args)]


# Prose built from an alphabet that cannot spell any tool name (no "e" — every
# tool name has one), with JSON punctuation, fences and tags mixed in.
NO_E = "abcdfghijklmnopqrstuvwxyz ABCDFGHIJ0123456789{}[]\":,.\n`<>/=_-'"
no_e_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet=NO_E, max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(alphabet=NO_E, max_size=8), inner,
                                                                         max_size=3)), max_leaves=8)
prose_bits = st.one_of(
    st.text(alphabet=NO_E, max_size=80),
    st.sampled_from(['{"name": ', '"arguments": {', "```json\n", "```\n", "<tool_call>", "</tool_call>",
                     "<function=", "</function>", "}", "]", '"parameters": ']),
    no_e_value.map(json.dumps),
)


SCHEMAS_FOR_PROPERTIES = {n: {"properties": {"path": {}, "url": {}, "content": {}}} for n in TOOLS}


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(prose_bits, max_size=12))
def test_text_without_a_tool_name_is_never_a_call(parts):
    text = "".join(parts)
    assert recover_calls(text, TOOLS) == []
    assert recover_calls(text, TOOLS, SCHEMAS_FOR_PROPERTIES) == []  # described calls need a tool's name too


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_never_raises(text):
    for c in recover_calls(text, TOOLS):
        assert c.name in TOOLS and isinstance(json.loads(c.arguments), dict)


# -------------------------------------------------------------- described calls
SCHEMAS = {
    "fetch_page": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    "read_feed": {"type": "object", "properties": {"url": {"type": "string"}, "limit": {"type": "integer"}},
                  "required": ["url"]},
    "write_file": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"},
                                                   "append": {"type": "boolean"}}, "required": ["path", "content"]},
    "send_webhook": {"type": "object", "properties": {"url": {"type": "string"}, "payload": {"type": "object"}},
                     "required": ["url", "payload"]},
    "finish": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
}

# Verbatim from Qwen2.5-Coder-1.5B (agentd's prompt, llama.cpp), after a web_search result.
REAL_DESCRIBED = '''To read the Trio article, you should call the `fetch_page` function with the following arguments:
```json
{
  "url": "http://127.0.0.1:33567/articles/trio"
}
```
This will fetch the HTML content of the Trio article and return it as markdown.'''


# Verbatim from the same model, as its first answer (and again after being asked to act).
REAL_DESCRIBED_LIST = '''To begin this objective, you need to call the `read_feed` function with the following arguments:
- `url`: `http://127.0.0.1:39261/space.atom`
- `limit`: `10`

This will read the first 10 entries from the Atom feed and return a list of dictionaries, each containing \
information about a single entry.'''


def described(text: str) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in recover_calls(text, TOOLS + ("read_feed",), SCHEMAS)]


@pytest.mark.parametrize("text, expected", [
    (REAL_DESCRIBED, [("fetch_page", {"url": "http://127.0.0.1:33567/articles/trio"})]),
    ('Next I will use write_file with {"path": "a.md", "content": "x"}.', [("write_file", {"path": "a.md", "content": "x"})]),
    # the tool named last before the object is the one called
    ('After web_search, call fetch_page:\n```\n{"url": "http://x.example/"}\n```', [("fetch_page", {"url": "http://x.example/"})]),
    # optional parameters are fine
    ('Call write_file: {"path": "a.md", "content": "x", "append": true}', [("write_file", {"path": "a.md", "content": "x", "append": True})]),
    # only the first object: what follows may rest on an invented result
    ('Call fetch_page {"url": "http://a.example/"} then fetch_page {"url": "http://b.example/"}',
     [("fetch_page", {"url": "http://a.example/"})]),
    # a proper call form wins over the described reading
    ('Call fetch_page:\n{"name": "write_file", "arguments": {"path": "a", "content": "b"}}', [("write_file", {"path": "a", "content": "b"})]),
    # the arguments as a list, one per line, read as their schema types
    (REAL_DESCRIBED_LIST, [("read_feed", {"url": "http://127.0.0.1:39261/space.atom", "limit": 10})]),
    ('Use write_file:\n* **path**: "notes.md"\n* **content**: Hello there\n* **append** = True',
     [("write_file", {"path": "notes.md", "content": "Hello there", "append": True})]),
    ('Call send_webhook with\n- url: http://h.example/hook\n- payload: {"count": 4}',
     [("send_webhook", {"url": "http://h.example/hook", "payload": {"count": 4}})]),
])
def test_described_call_is_recovered_with_schemas(text, expected):
    assert described(text) == expected


@pytest.mark.parametrize("text", [
    # keys that are not (all) the named tool's parameters: data
    'I used write_file to save the report. Each entry looks like this: {"name": "Mars", "moons": 2}',
    'I used fetch_page; the API answered {"url": "http://x.example/", "status": 200}',
    # a required parameter missing
    'Call send_webhook with {"url": "http://hook.example/"}',
    # the tool is named only after the object
    '{"url": "http://x.example/"} is what fetch_page would need.',
    # no tool named at all, or only a tool without a schema here
    'The result: {"url": "http://x.example/"}',
    'Use web_search with {"url": "http://x.example/"}',
    # a name inside a longer word is not a mention
    'Call my_fetch_page_helper with {"url": "http://x.example/"}',
    # a code sample in another language
    'Call fetch_page like this:\n```python\nfetch_page({"url": "http://x.example/"})\n```',
    # an empty object
    'Call fetch_page with {}',
    # lists: a summary's bullets; a value not of the parameter's type; a key twice; a required one missing
    'I read the feed with read_feed.\n- Entries: 5\n- Newest: Rust 2.0',
    'Call read_feed:\n- url: http://x.example/feed\n- limit: ten',
    'Call fetch_page:\n- url: http://a.example/\n- url: http://b.example/',
    'Call send_webhook:\n- url: http://h.example/hook\n- payload: count is 4',
    'Call write_file:\n- path: notes.md',
])
def test_described_looking_text_that_is_not_a_call(text):
    assert described(text) == []


def test_described_calls_need_schemas():
    assert recover_calls(REAL_DESCRIBED, TOOLS) == []


# -------------------------------------------------------------- calls gone wrong
# Verbatim from Qwen2.5-Coder-1.5B after reading numbers.txt: an expression where JSON needs a value.
REAL_EXPRESSION = ('{"name": "write_file", "arguments": {"path":"total.txt", "content":"The total is: "'
                   '+(412+1093+87+2250+316+529+134), "append": false}}')


@pytest.mark.parametrize("text, tool", [
    (REAL_EXPRESSION, "write_file"),
    ('```json\n{"name": "read_file", "arguments": {"path": numbers.txt}}\n```', "read_file"),
    ('I will call it: {"name": "Write-File", "parameters": {"path": \'a\'}}', "write_file"),
])
def test_a_known_tools_call_that_does_not_parse_is_broken(text, tool):
    assert recover_calls(text, TOOLS) == []
    found = broken_call(text, TOOLS)
    assert found is not None and found[0] == tool and found[1], found


@pytest.mark.parametrize("text", [
    '{"name": "write_file", "arguments": {"path": "a", "content": "b"}}',  # parses: a call, not broken
    '{"name": "start_run", "arguments": {"x": 1 + 2}}',  # not a known tool
    'The JSON was {"name": "Mars", "moons": 2 + 0}',  # not the shape of a call
    "Done: total.txt holds 4821.",
])
def test_text_that_is_not_a_broken_call(text):
    assert broken_call(text, TOOLS) is None
