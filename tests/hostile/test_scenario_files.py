"""Hostile and careless scenario files: every one is refused with a located error (exit 2),
never a traceback, and quickly (the alias bombs that used to take 34 s are refused from the
YAML event stream). Valid-looking files that a run would trip on are caught by validate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gwa.cli import main

OK = "goal: pick a fruit\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
LOCATED = re.compile(r"^\S+:\d+:\d+: ", re.M)


def bomb(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [x]"]
    for i in range(1, levels + 1):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return OK + "\n".join(lines) + "\n"


# (case id, file text (str or bytes), a fragment the error must contain)
CASES: list[tuple[str, str | bytes, str]] = [
    ("recursive-alias", OK + "description: &a [*a]\n", "refers to itself"),
    ("undefined-alias", OK + "description: *nope\n", "not defined"),
    ("deep-flow-sequence", OK + "x: " + "[" * 20000 + "]" * 20000 + "\n", "nested deeper"),
    (
        "deep-block-maps",
        OK + "x:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1000)) + "\n",
        "nested deeper",
    ),
    ("alias-bomb-6x9", bomb(6), "alias bomb"),
    ("alias-bomb-8x9", bomb(8), "alias bomb"),
    ("alias-bomb-20x2", bomb(20, 2), "alias bomb"),
    ("nul-byte", OK + 'description: "a\x00b"\n', "U+0000"),
    ("control-char", OK + "description: a\x07b\n", "not allowed"),
    ("huge-int", OK + "workspace: {max_cycles: " + "9" * 5000 + "}\n", "not a valid int"),
    ("bad-timestamp", OK + "description: !!timestamp 2001-13-45\n", "not a valid timestamp"),
    ("bad-float-tag", OK + "description: !!float abc\n", "not a valid float"),
    ("bad-int-tag", OK + "description: !!int abc\n", "not a valid int"),
    ("bad-binary", OK + "description: !!binary '%%%'\n", "description"),
    ("python-tag", OK + "description: !!python/object/apply:os.system ['echo hi']\n", "YAML"),
    ("unknown-tag", OK + "description: !shell ls\n", "YAML"),
    ("unclosed-quote", OK + 'description: "no end\n', "YAML syntax"),
    ("tab-indent", OK + "workspace:\n\tmax_cycles: 3\n", "YAML syntax"),
    ("bad-indent", "goal: g\nagents:\n  - name: g\n   role: generator\n", "YAML syntax"),
    ("two-documents", OK + "---\n" + OK, "YAML syntax"),
    ("duplicate-key", OK + "goal: again\n", "duplicate key 'goal'"),
    ("int-key", OK + "\n" * 5 + "10: ten\n", "keys must be text"),
    ("complex-key", OK + "? [a, b]\n: c\n", "unhashable key"),
    ("bool-key", OK + "true: yes\n", "keys must be text"),
    ("empty", "", "empty"),
    ("only-comments", "# nothing\n# here\n", "empty"),
    ("top-level-list", "- a\n- b\n", "mapping"),
    ("top-level-scalar", "just text\n", "mapping"),
    ("bool-max-cycles", OK + "workspace: {max_cycles: true}\n", "max_cycles"),
    ("string-max-cycles", OK + "workspace: {max_cycles: '5'}\n", "max_cycles"),
    ("float-max-cycles", OK + "workspace: {max_cycles: 2.5}\n", "max_cycles"),
    ("negative-max-cycles", OK + "workspace: {max_cycles: -1}\n", "max_cycles"),
    ("inf-max-cycles", OK + "workspace: {max_cycles: .inf}\n", "max_cycles"),
    ("string-temperature", OK + "workspace: {temperature: hot}\n", "temperature"),
    ("nan-temperature", OK + "workspace: {temperature: .nan}\n", "temperature"),
    ("huge-temperature", OK + "workspace: {temperature: 1e400}\n", "temperature"),
    ("bool-seed", OK + "workspace: {seed: false}\n", "seed"),
    ("list-goal", "goal: [a]\nagents:\n  - {name: g, role: generator}\n", "goal"),
    ("empty-goal", OK.replace("pick a fruit", "''"), "goal"),
    ("blank-goal", OK.replace("pick a fruit", "'   '"), "goal"),
    ("unknown-field", OK + "workspce: {}\n", "workspce"),
    (
        "unknown-role",
        OK.replace("generator}\n", "generator}\n  - {name: h, role: wizard}\n"),
        "unknown role",
    ),
    (
        "unknown-model",
        OK.replace("generator}\n", "generator}\n  - {name: h, role: critic, model: gpt9}\n"),
        "unknown model",
    ),
    ("no-agents", "goal: g\nagents: []\n", "agents"),
    ("agents-not-a-list", "goal: g\nagents: {g: generator}\n", "agents"),
    ("agent-without-name", "goal: g\nagents:\n  - {role: generator}\n", "name"),
    ("no-generator", "goal: g\nagents:\n  - {name: c, role: critic}\n", "generator"),
    ("hybrid-without-arbiter", OK.replace("policy: score", "policy: hybrid"), "arbiter"),
    (
        "bad-bounds",
        OK.replace("role: generator}", "role: generator, temperature_bounds: [2, 1]}"),
        "bounds",
    ),
    (
        "bounds-of-strings",
        OK.replace("role: generator}", "role: generator, temperature_bounds: [a, b]}"),
        "temperature_bounds",
    ),
    ("template-unknown-field", OK + "trace: {path: 'traces/{oops}.jsonl'}\n", "{oops}"),
    (
        "template-attribute",
        OK + "trace: {path: 'traces/{run.__class__}.jsonl'}\n",
        "unknown template field",
    ),
    ("template-index", OK + "trace: {path: 'traces/{run[0]}.jsonl'}\n", "unknown template field"),
    (
        "template-conversion",
        OK + "trace: {path: 'traces/{run!r}.jsonl'}\n",
        "unknown template field",
    ),
    (
        "template-spec",
        OK + "trace: {path: 'traces/{run:>99999}.jsonl'}\n",
        "unknown template field",
    ),
    ("template-unbalanced", OK + "trace: {path: 'traces/{run.jsonl'}\n", "template"),
    ("missing-env", OK + "description: ${GWA_TEST_SURELY_UNSET}\n", "GWA_TEST_SURELY_UNSET"),
    ("otlp-not-http", OK + "telemetry: {otlp: 'ftp://x'}\n", "telemetry.otlp"),
    ("bad-collection", OK + "memory: {collection: '../../etc'}\n", "collection"),
    ("replay-without-path", OK + "models: {default: {provider: replay}}\n", "path"),
    ("langchain-without-factory", OK + "models: {default: {provider: langchain}}\n", "factory"),
    ("bad-provider", OK + "models: {default: {provider: skynet}}\n", "provider"),
    ("bad-policy", OK.replace("policy: score", "policy: vibes"), "policy"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_scenario_is_refused_with_a_located_error(
    text: str | bytes, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, every line of the error located as file:line:col, the cause named."""
    path = tmp_path / "s.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err
    assert all(LOCATED.match(line) for line in err.splitlines()), err
    assert fragment in err


def test_files_that_are_not_scenarios_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory, /dev/zero, a file over 1 MiB, and bytes that are not UTF-8."""
    big = tmp_path / "big.yaml"
    big.write_text(OK + "description: '" + "x" * (1 << 20) + "'\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(OK.encode() + b"description: caf\xe9\n")
    cases = {
        str(tmp_path): "is a directory",
        "/dev/zero": "not a regular file",
        str(big): "larger than 1024 KiB",
        str(latin): "not UTF-8",
        str(tmp_path / "missing.yaml"): "file not found",
    }
    for path, fragment in cases.items():
        assert main(["validate", path]) == 2
        assert fragment in capsys.readouterr().err


def test_thousands_of_problems_are_counted_not_all_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2,000 bad agents: 50 located lines and a count of the rest."""
    agents = "".join(f"  - {{name: a{i}, role: wizard}}\n" for i in range(2000))
    path = tmp_path / "s.yaml"
    path.write_text("goal: g\nagents:\n  - {name: g, role: generator}\n" + agents)
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 51
    assert lines[-1] == "… and 1,950 more problem(s) (2,000 in all)"


def test_what_a_run_would_trip_on_is_caught_by_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace or memory path under a regular file, a memory path that is a file or a
    foreign folder, a missing cassette or GGUF, a factory whose module does not exist."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "photo.jpg").write_text("x")
    cases = {
        "trace: {path: 'afile/traces/{run}.jsonl'}": ("trace", "afile is a file"),
        "memory: {path: afile}": ("memory", "afile is a file"),
        "memory: {path: afile/store}": ("memory", "afile is a file"),
        "memory: {path: foreign}": ("memory", "no GWA memory store"),
        "models: {default: {provider: replay, path: gone.json}}": ("models", "cassette not found"),
        "models: {default: {provider: local, path: gone.gguf}}": (
            "models",
            "GGUF model file not found",
        ),
        "models: {default: {provider: langchain, factory: 'no_such_mod:make'}}": (
            "models",
            "module 'no_such_mod' not found",
        ),
    }
    for line, (_, fragment) in cases.items():
        path = tmp_path / "s.yaml"
        path.write_text(OK + line + "\n")
        assert main(["validate", str(path)]) == 2, line
        err = capsys.readouterr().err
        assert fragment in err, err
        assert re.search(r"s\.yaml:5:\d+: ", err), err  # the field's own line
        assert main(["run", str(path), "--model", "fake", "--quiet"]) == 2 or "models" in line


def test_a_bad_bus_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """mqtt://host:99999 and a non-MQTT URL are exit 2 with the reason, no traceback."""
    for url, fragment in (
        ("mqtt://127.0.0.1:99999", "invalid port"),
        ("mqtt://127.0.0.1:port", "invalid port"),
        ("http://127.0.0.1:1883", "must look like mqtt://"),
    ):
        assert main(["run", "brainstorm", "--model", "fake", "--bus", url, "--quiet"]) == 2
        assert fragment in capsys.readouterr().err
