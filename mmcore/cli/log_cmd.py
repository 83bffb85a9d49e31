"""``mm log``: look inside a recorded event log.

``mm log info FILE`` prints the header (versions, instruments, config) and what the log holds;
``mm log cat FILE`` prints its records as JSON lines. Neither changes the file unless asked
(``info --repair`` cuts a torn tail off).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from itertools import islice

from mmcore.instrument import Instrument
from mmcore.log import LogHeader, open_log
from mmcore.records import TAGS, to_json_line

__all__ = ["cmd_cat", "cmd_info", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``log info`` and ``log cat`` to the ``mm`` command line."""
    log = subparsers.add_parser(
        "log",
        help="inspect a recorded event log",
        description="Inspect an append-only event log written by a live run, paper run or "
        "backtest (plain or .zst).",
    )
    commands = log.add_subparsers(dest="log_command", metavar="SUBCOMMAND", required=True)

    info = commands.add_parser(
        "info",
        help="print the header and record counts",
        description="Print the log's header (format and code version, creation time, "
        "instruments, config) and how many records of each type it holds. A torn tail left by "
        "a crash is reported; it is cut off only with --repair.",
    )
    info.add_argument("file", metavar="FILE", help="path of the event log")
    info.add_argument(
        "--repair",
        action="store_true",
        help="truncate a torn tail off the file (default: report it and leave the file as is)",
    )
    info.set_defaults(func=cmd_info)

    cat = commands.add_parser(
        "cat",
        help="print records as JSON lines",
        description="Print the log's records, one JSON object per line: log_seq, type (the "
        "record's tag) and its fields by name. Prices are ticks, sizes lots, money nanos, "
        "times nanoseconds.",
    )
    cat.add_argument("file", metavar="FILE", help="path of the event log")
    cat.add_argument(
        "--limit", type=_count, metavar="N", default=None, help="stop after N printed records"
    )
    cat.add_argument(
        "--type",
        dest="type",
        metavar="TAG",
        action="append",
        choices=sorted(TAGS.values()),
        help="print only records with this tag (e.g. Fill, Place); repeat for several",
    )
    cat.set_defaults(func=cmd_cat)


def cmd_info(args: argparse.Namespace) -> int:
    reader = open_log(args.file, repair=args.repair)
    out = sys.stdout
    out.write(f"file: {reader.path}\n")
    out.write(_header_text(reader.header))
    counts = reader.counts()
    out.write("records:\n")
    for tag, n in sorted(counts.items()):
        out.write(f"  {tag}: {n}\n")
    out.write(f"total records: {sum(counts.values())}\n")
    out.write(f"total frames: {sum(counts.values()) + 1} (header included)\n")
    if reader.truncated_bytes:
        # what open_log did, not what was asked: a repair is refused while a writer holds the
        # file, or when it cannot be written
        if reader.repaired:
            done = "truncated"
        elif reader.repair_refused:
            done = f"ignored, file left as is (not truncated: {reader.repair_refused})"
        else:
            done = "ignored, file left as is (use --repair to cut it)"
        out.write(f"torn tail: {reader.truncated_bytes} bytes {done}\n")
    return 0


def cmd_cat(args: argparse.Namespace) -> int:
    limit: int | None = args.limit
    reader = open_log(args.file, repair=False)
    wanted = frozenset(args.type or ())
    rows = (
        (seq, record)
        for seq, _offset, record in reader.frames()
        if not wanted or TAGS[type(record)] in wanted
    )
    write = sys.stdout.write
    for seq, record in islice(rows, limit):
        write(to_json_line(seq, record))
        write("\n")
    return 0


def _header_text(header: LogHeader) -> str:
    lines = [
        f"format version: {header.format_version}",
        f"code version: {header.code_version}",
        f"created: {_utc(header.created_ns)}",
        f"instruments: {len(header.instruments)}",
    ]
    lines.extend(f"  {_instrument_text(inst)}" for inst in header.instruments)
    lines.extend(f"meta {key}: {value}" for key, value in sorted(header.meta.items()))
    lines.append("config: " + json.dumps(header.config, sort_keys=True, default=str))
    return "".join(line + "\n" for line in lines)


def _instrument_text(inst: Instrument) -> str:
    return (
        f"{inst.venue} {inst.symbol}: tick {inst.tick_size}, lot {inst.lot_size}, "
        f"min size {inst.min_size}, min notional {inst.min_notional} {inst.quote}, "
        f"fees maker {inst.maker_fee} taker {inst.taker_fee}"
    )


def _utc(ns: int) -> str:
    if not ns:
        return "unknown"
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest:09d}Z ({ns} ns)"


def _count(text: str) -> int:
    """argparse type for --limit: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, found {value}")
    return value
