"""`gwa memory …` and `gwa eval …`: inspect, maintain and measure long-term memory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from gwa.errors import ConfigError

DEFAULT_STORE = Path(".gwa/memory")


def add_commands(sub: Any) -> None:
    """Register the `memory` and `eval` sub-commands on the top-level parser."""
    mem = sub.add_parser("memory", help="inspect and maintain the long-term memory store")
    mem.add_argument(
        "--store", type=Path, default=DEFAULT_STORE, help="store directory (default .gwa/memory)"
    )
    mem.add_argument("--url", help="a Chroma server (http://HOST:PORT) holding the records")
    mem.add_argument("--collection", default="gwa_memory")
    ms = mem.add_subparsers(dest="memory_command", required=True)
    ls = ms.add_parser("ls", help="list memories, newest first")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--archived", action="store_true", help="list the archive instead")
    ls.add_argument("--json", action="store_true")
    search = ms.add_parser("search", help="retrieve memories for a query, with scores")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--json", action="store_true")
    show = ms.add_parser("show", help="one memory: provenance, statistics and links")
    show.add_argument("id")
    ms.add_parser("stats", help="counts, tokens, retention and links")
    prune = ms.add_parser("prune", help="archive memories whose retention fell below a threshold")
    prune.add_argument("--below", type=float, default=0.05, help="retention threshold (0–1)")
    prune.add_argument("--dry-run", action="store_true")
    restore = ms.add_parser("restore", help="bring archived memories back")
    restore.add_argument("ids", nargs="+")
    exp = ms.add_parser("export", help="write every record, vector and link as JSON lines")
    exp.add_argument("file", type=Path, help="output file ('-' for stdout)")
    imp = ms.add_parser("import", help="load an export (ids kept; existing ids are skipped)")
    imp.add_argument("file", type=Path)
    serve = ms.add_parser("serve", help="serve the store to other agents over MCP")
    serve.add_argument("--mcp", action="store_true", required=True, help="the protocol (MCP)")
    serve.add_argument("--http", type=int, metavar="PORT", help="streamable HTTP (default: stdio)")
    serve.add_argument("--host", default="127.0.0.1", help="with --http (default loopback)")
    serve.add_argument(
        "--admission",
        default="learned",
        choices=("learned", "hand-weighted", "admit-all", "admit-none"),
        help="what `add` goes through (default learned; inputs are untrusted)",
    )
    serve.add_argument("--seed", type=Path, help="store each line of this text file if empty")
    _train_parser(ms)
    _eval_parser(sub)


def _train_parser(ms: Any) -> None:
    tr = ms.add_parser(
        "train", help="train the learned admission policy from run traces or a LoCoMo file"
    )
    source = tr.add_mutually_exclusive_group(required=True)
    source.add_argument("--traces", type=Path, nargs="+", help="run traces (memory.admit/use)")
    source.add_argument(
        "--dataset", type=Path, help="LoCoMo-format conversations (trained by usage, as in eval)"
    )
    tr.add_argument("--horizon", type=int, default=20, help="cycles within which a use counts")
    tr.add_argument(
        "--budget",
        type=float,
        default=None,
        help="with --dataset: the threshold keeps this share of the training turns (default 0.45)",
    )


def _eval_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="measure retrieval quality and memory competencies")
    es = ev.add_subparsers(dest="eval_command", required=True)
    em = es.add_parser("memory", help="evidence recall@k on LoCoMo-format conversations")
    em.add_argument("--dataset", type=Path, required=True)
    em.add_argument("--k", default="1,5,10,25,50", help="comma-separated cut-offs")
    em.add_argument("--json", type=Path, dest="json_out", help="also write the report here")
    em.add_argument(
        "--judge",
        metavar="MODEL",
        help="a model judges each first round and may ask for a second (fake, local, "
        "openai:NAME, replay:CASSETTE); off by default",
    )
    ea = es.add_parser("admission", help="stored fraction and recall@10 of each admission policy")
    ea.add_argument("--dataset", type=Path, required=True)
    ea.add_argument(
        "--train", type=Path, help="train the learned policy here (default: leave one out)"
    )
    ea.add_argument(
        "--budget",
        type=float,
        default=0.45,
        help="the learned threshold keeps this share of the training turns",
    )
    ea.add_argument("--json", type=Path, dest="json_out", help="also write the report here")
    el = es.add_parser(
        "longrun",
        help="facts, corrections and poison planted in long workspace runs, asked at the end",
    )
    el.add_argument("--cycles", type=int, default=300, help="cycles a run (at least 100)")
    el.add_argument("--seeds", default="0", help="comma-separated worlds (default 0)")
    el.add_argument(
        "--admission",
        default="admit-all,hand-weighted,learned",
        help="comma-separated admission policies to compare (a run without long-term memory "
        "is always added)",
    )
    el.add_argument("-k", type=int, default=5, help="memories retrieved per question")
    el.add_argument("--json", type=Path, dest="json_out", help="also write the report here")


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from gwa.memory import LongTermMemory

    return LongTermMemory(args.store, url=args.url, collection=args.collection, create=create)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _line(rec: Any) -> str:
    flag = "" if rec.status == "active" else f" [{rec.status}]"
    text = rec.text.replace("\n", " ")
    text = text if len(text) <= 80 else text[:79] + "…"
    return f"{rec.id}  {_when(rec.created_at)}  {rec.kind:<8} {rec.agent or '-':<12}{flag} {text}"


def _ls(store: Any, args: argparse.Namespace) -> int:
    recs = sorted(store.records(archived=args.archived), key=lambda r: (-r.created_at, r.id))
    recs = recs[: max(0, args.limit)]
    if args.json:
        print(json.dumps([r.to_json() for r in recs], ensure_ascii=False, indent=1))
        return 0
    for rec in recs:
        print(_line(rec))
    if not recs:
        print("(no memories)", file=sys.stderr)
    return 0


def _search(store: Any, args: argparse.Namespace) -> int:
    hits = store.search([args.query], args.k)
    if args.json:
        rows = [
            {
                "id": h.record.id,
                "score": h.score,
                "dense": h.dense,
                "lexical": h.lexical,
                "retention": h.retention,
                "via": h.via,
                "text": h.record.text,
            }
            for h in hits
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for h in hits:
        via = f" (via {h.via})" if h.via else ""
        print(f"{h.score:7.3f}  {_line(h.record)}{via}")
    return 0


def _show(store: Any, args: argparse.Namespace) -> int:
    rec = store.get(args.id)
    if rec is None:
        raise ConfigError(f"no memory {args.id!r} in {args.store}; see `gwa memory ls`")
    body = rec.to_json()
    body["links"] = [{"type": t, "to": n} for n, t in store.links.neighbours(args.id)]
    print(json.dumps(body, ensure_ascii=False, indent=1))
    return 0


def _stats(store: Any, args: argparse.Namespace) -> int:
    print(json.dumps(store.stats(), indent=1))
    return 0


def _prune(store: Any, args: argparse.Namespace) -> int:
    gone = store.prune(args.below, dry_run=args.dry_run)
    verb = "would archive" if args.dry_run else "archived"
    print(f"{verb} {len(gone)} memories with retention below {args.below}")
    for rec in gone:
        print(f"  {_line(rec)}")
    return 0


def _restore(store: Any, args: argparse.Namespace) -> int:
    back = store.restore(args.ids)
    missing = set(args.ids) - {r.id for r in back}
    print(f"restored {len(back)} memories")
    if missing:
        print(f"not in the archive: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    if str(args.file) == "-":
        n = store.export(sys.stdout)
    else:
        tmp = args.file.with_name(args.file.name + ".part")
        with tmp.open("w", encoding="utf-8") as f:
            n = store.export(f)
        tmp.replace(args.file)
    print(f"exported {n} lines to {args.file}", file=sys.stderr)
    return 0


def _import(store: Any, args: argparse.Namespace) -> int:
    with args.file.open(encoding="utf-8") as f:
        counts = store.import_(f, source=str(args.file))
    print(
        f"imported {counts['records']} records and {counts['links']} links "
        f"({counts['skipped']} already present)"
    )
    return 0


def _train(store: Any, args: argparse.Namespace) -> int:
    from gwa.eval import main_progress, train_from_dataset, train_from_traces

    if args.dataset is not None:
        budget = 0.45 if args.budget is None else args.budget
        done = train_from_dataset(store.path, args.dataset, budget=budget, progress=main_progress)
        print(
            f"trained on {done.examples} turns ({done.used} used) of {done.note}; "
            f"weights in {done.path}"
        )
        return 0
    if args.budget is not None:
        raise ConfigError("--budget applies to --dataset training only")
    done = train_from_traces(store.path, args.traces, horizon=args.horizon)
    print(
        f"trained on {done.examples} admissions ({done.used} later used) from "
        f"{len(args.traces)} trace(s); weights in {done.path}"
    )
    return 0


_COMMANDS = {
    "ls": _ls,
    "search": _search,
    "show": _show,
    "stats": _stats,
    "prune": _prune,
    "restore": _restore,
    "export": _export,
    "import": _import,
    "train": _train,
}


def cmd_memory(args: argparse.Namespace) -> int:
    """Run one `gwa memory` sub-command."""
    cmd = args.memory_command
    if cmd == "serve":
        return _serve(args)
    if cmd == "import" and not args.file.is_file():
        raise ConfigError(f"{args.file}: export file not found")
    # import and a dataset-trained policy may start a new store
    store = _open(args, create=cmd == "import" or getattr(args, "dataset", None) is not None)
    try:
        return _COMMANDS[cmd](store, args)
    finally:
        store.close()


def _serve(args: argparse.Namespace) -> int:
    if args.seed is not None and not args.seed.is_file():
        raise ConfigError(f"{args.seed}: seed file not found")
    try:
        from gwa.tools.memory_server import serve
    except ImportError:
        raise ConfigError("serving over MCP needs the mcp SDK: pip install 'gwa[mcp]'") from None
    serve(args.store, http=args.http, host=args.host, admission=args.admission, seed_file=args.seed)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Run one `gwa eval` sub-command."""
    from gwa.eval import (
        evaluate_admission,
        evaluate_memory,
        format_admission,
        format_report,
        main_progress,
    )
    from gwa.resolve import build_model, parse_model_option

    if args.eval_command == "longrun":
        return _eval_longrun(args)

    if args.eval_command == "admission":
        report = evaluate_admission(
            args.dataset, train=args.train, budget=args.budget, progress=main_progress
        )
        print(format_admission(report))
        _write_json(args.json_out, report)
        return 0

    ks = _ints(args.k, "--k")
    judge = build_model(parse_model_option(args.judge, "--judge")) if args.judge else None
    report = evaluate_memory(args.dataset, ks, progress=main_progress, judge=judge)
    print(format_report(report))
    _write_json(args.json_out, report)
    return 0


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} takes comma-separated integers, got {text!r}") from None


def _eval_longrun(args: argparse.Namespace) -> int:
    from gwa.eval import evaluate_longrun, format_longrun, main_progress

    known = ("admit-all", "admit-none", "hand-weighted", "learned")
    policies = [p.strip() for p in args.admission.split(",") if p.strip()]
    unknown = [p for p in policies if p not in known]
    if unknown:
        raise ConfigError(f"--admission: unknown {', '.join(unknown)}; use {', '.join(known)}")
    if args.cycles < 100:
        raise ConfigError(f"--cycles {args.cycles}: a long run needs at least 100 cycles")
    report = evaluate_longrun(
        cycles=args.cycles,
        seeds=_ints(args.seeds, "--seeds") or [0],
        admissions=policies,
        k=args.k,
        progress=main_progress,
    )
    print(format_longrun(report))
    _write_json(args.json_out, report)
    return 0


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
