"""Deterministic synthetic news corpus with labelled duplicate clusters.

Usage::

    python benchmarks/generate_corpus.py --out /tmp/corpus-100k --docs 100000 [--seed 1]

Writes ``N`` text files, 1000 per folder (``00000/00000000.txt``, ...; the id
of a document is its path relative to ``--out``, as the ``text_files`` source
names it) and ``clusters.jsonl``, one line per document::

    {"id": "00000/00000042.txt", "cluster": "c0000017", "role": "variant",
     "outlet": "o07", "negative_of": null, "ops": ["word_subs:2", "drop_para"]}

Roles: ``original`` (first member of a cluster), ``variant`` (the same story
syndicated to another outlet: other page furniture and small edits: word
substitutions, a dropped or added paragraph, a re-cased title),
``exact_copy`` (byte-identical to the original), ``whitespace_copy`` (the
original with CRLF line ends, doubled spaces, trailing blanks, extra blank
lines), ``singleton`` (a story with no duplicate) and ``hard_negative`` (a
different story in the same outlet's wrapper, sharing the title's first words
and one background paragraph with the story it imitates; its own cluster,
``negative_of`` names the other). Two documents are duplicates iff they share
``cluster``.

The text is synthetic (no real article is copied): content words are made of
syllables and drawn from a Zipf distribution, interleaved with English
function words at about the rate of real news prose (~44% of tokens), so a
stop-word based boilerplate remover sees the bodies as prose. Article lengths
are log-normal (median ~430 words, 80-2500). Each outlet has its own page
furniture: a navigation run, share buttons, a byline, "Related Articles"
blocks with teaser lines that differ per page, inline "READ MORE:" teasers,
a newsletter prompt, cookie and copyright footers, and on some outlets a
`` date YYYY-MM-DD N`` header line.

Deterministic: everything comes from ``random.Random(seed)`` (no ``hash()``,
no clock), so the same arguments give byte-identical files. Streaming: files
are written as they are made; members of a cluster are scattered over the
following ~20,000 documents through a small delay queue, so memory stays flat
(1M documents in a few minutes).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PER_FOLDER = 1000
MAX_DELAY = 20000  # cluster members appear within this many documents of the original

# Common English function words (written for this benchmark), with rough
# relative frequencies in news prose.
FUNCTION_WORDS: list[tuple[str, float]] = [
    (w, f)
    for group, f in (
        ("the", 60.0),
        ("of and to a in", 25.0),
        ("that is for on was said with he it as at by", 9.0),
        ("from his an be has have are were but not its they which this who had", 5.0),
        (
            (
                "their will been would also after more about than over into there when one "
                "new two other some up out if all we could can only first last year"
            ),
            2.5,
        ),
        (
            (
                "between because while before during since under against where these those "
                "many most such both each any no so then now very just even still however "
                "being our her she you them what how may might should must do does did "
                "through without within among around across until again ever never always"
            ),
            0.9,
        ),
    )
    for w in group.split()
]
FUNCTION_SHARE = 0.44
TABLE_BITS = 20

SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "ka",
    "ke",
    "ki",
    "ko",
    "ku",
    "da",
    "de",
    "di",
    "do",
    "du",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "te",
    "ti",
    "to",
    "tu",
    "va",
    "ve",
    "vi",
    "vo",
    "an",
    "en",
    "in",
    "on",
    "ar",
    "er",
    "ir",
    "or",
    "al",
    "el",
    "il",
    "ol",
    "st",
    "tr",
    "pr",
    "gr",
    "br",
    "ch",
    "sh",
    "th",
]
NUMBERS = [
    "2",
    "3",
    "5",
    "10",
    "12",
    "15",
    "20",
    "25",
    "40",
    "100",
    "1.5",
    "2.4",
    "30",
    "50",
    "2024",
    "2025",
    "7.2",
]

NAV_WORDS = [
    "Home",
    "News",
    "World",
    "Business",
    "Markets",
    "Politics",
    "Opinion",
    "Sport",
    "Tech",
    "Science",
    "Health",
    "Culture",
    "Travel",
    "Video",
    "Podcasts",
    "Weather",
    "Local",
    "Economy",
    "Climate",
    "Lifestyle",
    "Entertainment",
    "Books",
    "Food",
    "Cars",
    "Money",
    "Jobs",
    "Property",
    "Education",
    "Obituaries",
    "Newsletters",
    "Subscribe",
    "Login",
    "Menu",
    "Search",
    "Live",
]
SHARE_SETS = [
    ["Share", "Facebook", "Twitter", "LinkedIn", "Email"],
    ["facebook", "twitter", "whatsapp", "email", "print"],
    ["Share this article", "Copy link"],
    ["Share on Facebook", "Share on X", "Share via Email", "Print"],
]
RELATED_HEADINGS = [
    "Related Articles",
    "More from this section",
    "You may also like",
    "Read more",
    "Most popular",
    "Recommended for you",
    "Latest stories",
]
READ_MORE = ["READ MORE:", "Read more:", "Also read:", "RELATED:", "See also:"]
NEWSLETTERS = [
    "Sign up for our morning newsletter and get the day's top stories in your inbox.",
    "Get the latest headlines delivered to your inbox every day. Subscribe now.",
    "Never miss a story: sign up to our free daily briefing.",
]
COOKIES = [
    "We use cookies to improve your experience on our site. By continuing you agree to our use of cookies.",
    "This website uses cookies. Read our Cookie Policy to find out more. Accept all cookies",
    "Cookie settings | Privacy policy | Terms of use | Accessibility | Contact us",
]
COPYRIGHTS = [
    "© {year} {name}. All rights reserved.",
    "Copyright {year} {name}. All Rights Reserved.",
    "{name} © {year}",
]
AGENCIES = ["(Reuters)", "(AP)", "(AFP)", "(MENAFN)", "(dpa)", "(Bloomberg)"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


# ---------------------------------------------------------------- vocabulary
def _make_word(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(lo, hi)))


class Vocab:
    """Words and a 2**20-slot sampling table (function words + Zipf content words)."""

    def __init__(self, rng: random.Random, size: int = 30000) -> None:
        function = {w for w, _ in FUNCTION_WORDS}
        words: set[str] = set()
        content: list[str] = []
        while len(content) < size:
            w = _make_word(rng, 1, 4)
            if len(w) > 2 and w not in words and w not in function:
                words.add(w)
                content.append(w)
        self.content = content
        self.names = [w.capitalize() for w in content[-4000:]]  # rare words double as proper names
        slots = 1 << TABLE_BITS
        table: list[str] = []
        total_f = sum(f for _, f in FUNCTION_WORDS)
        for w, f in FUNCTION_WORDS:
            table += [w] * max(1, round(slots * FUNCTION_SHARE * f / total_f))
        n_content = slots - len(table)
        zipf = [1.0 / (r + 10) for r in range(len(content))]
        total_z = sum(zipf)
        for w, z in zip(content, zipf):
            table += [w] * round(n_content * z / total_z)
        for i in range(slots - len(table)):  # round-off: pad with mid-frequency words
            table.append(content[200 + i % 5000])
        self.table = table[:slots]

    def draw(self, rng: random.Random, n: int) -> list[str]:
        """``n`` words, one random 32-bit draw per word (fast: no per-word call)."""
        if n <= 0:
            return []
        raw = rng.getrandbits(32 * n).to_bytes(4 * n, "little")
        t = self.table
        shift = 32 - TABLE_BITS
        return [t[x >> shift] for x in memoryview(raw).cast("I")]


# ---------------------------------------------------------------- stories
Story = dict[str, Any]  # title: str, paras: list[str], words: int


def _sentences(rng: random.Random, vocab: Vocab, n_words: int) -> list[str]:
    words = vocab.draw(rng, n_words)
    out = []
    i = 0
    names = vocab.names
    while i < len(words):
        n = rng.randint(7, 28)
        s = words[i : i + n]
        i += n
        if len(s) < 4:
            break
        r = rng.random()
        if r < 0.35:  # a proper name or a number somewhere in the sentence
            s[rng.randrange(1, len(s))] = rng.choice(names) + (" " + rng.choice(names) if r < 0.12 else "")
        elif r < 0.5:
            s[rng.randrange(1, len(s))] = rng.choice(NUMBERS)
        if len(s) > 12 and rng.random() < 0.5:
            j = rng.randrange(4, len(s) - 3)
            s[j] += ","
        s[0] = s[0][0].upper() + s[0][1:]
        end = "." if rng.random() < 0.93 else ("?" if rng.random() < 0.5 else '."')
        out.append(" ".join(s) + end)
    return out


def _paragraphs(rng: random.Random, vocab: Vocab, n_words: int) -> list[str]:
    sents = _sentences(rng, vocab, n_words)
    paras = []
    i = 0
    while i < len(sents):
        k = rng.choice((1, 2, 2, 3, 3, 3, 4, 5))
        paras.append(" ".join(sents[i : i + k]))
        i += k
    return paras


def _title(rng: random.Random, vocab: Vocab) -> str:
    words = vocab.draw(rng, rng.randint(5, 11))
    words[0] = rng.choice(vocab.names)
    return " ".join(
        w if w in ("of", "and", "the", "to", "a", "in", "on", "for") else w.capitalize() for w in words
    )


def _article_words(rng: random.Random) -> int:
    return int(min(2500, max(80, rng.lognormvariate(math.log(430), 0.55))))


def new_story(rng: random.Random, vocab: Vocab) -> Story:
    return {"title": _title(rng, vocab), "paras": _paragraphs(rng, vocab, _article_words(rng))}


def variant_of(rng: random.Random, vocab: Vocab, story: Story) -> tuple[Story, list[str]]:
    """The story as another outlet runs it: small edits only."""
    paras = list(story["paras"])
    ops = []
    n_subs = rng.randint(1, 4)
    for _ in range(n_subs):
        p = rng.randrange(len(paras))
        words = paras[p].split(" ")
        words[rng.randrange(len(words))] = vocab.draw(rng, 1)[0]
        paras[p] = " ".join(words)
    ops.append(f"word_subs:{n_subs}")
    r = rng.random()
    if r < 0.3 and len(paras) >= 6:
        # drop a paragraph that is not the lead and not the longest
        longest = max(range(len(paras)), key=lambda i: len(paras[i]))
        choices = [i for i in range(1, len(paras)) if i != longest]
        del paras[rng.choice(choices)]
        ops.append("drop_para")
    elif r < 0.55:
        extra = _paragraphs(rng, vocab, rng.randint(25, 60))
        paras.insert(rng.randint(1, len(paras)), " ".join(extra))
        ops.append("add_para")
    title = story["title"]
    if rng.random() < 0.3:
        title = title.upper() if rng.random() < 0.5 else title[0] + title[1:].lower()
        ops.append("title_case")
    return {"title": title, "paras": paras}, ops


def hard_negative_of(rng: random.Random, vocab: Vocab, story: Story) -> Story:
    """A different story: the title's first words and one background paragraph in common."""
    other = new_story(rng, vocab)
    head = story["title"].split(" ")[:3]
    other["title"] = " ".join(head + other["title"].split(" ")[3:])
    if len(story["paras"]) > 2 and len(other["paras"]) > 2:
        other["paras"].insert(len(other["paras"]) - 1, story["paras"][-1])
    return other


# ---------------------------------------------------------------- outlets
class Outlet:
    def __init__(self, rng: random.Random, vocab: Vocab, index: int) -> None:
        self.key = f"o{index:02d}"
        self.name = " ".join(
            ["The"] * (rng.random() < 0.4)
            + [rng.choice(vocab.names) for _ in range(rng.randint(1, 2))]
            + [rng.choice(["Times", "Post", "Herald", "Daily", "News", "Observer", "Journal", "Wire"])]
        )
        self.nav = rng.sample(NAV_WORDS, rng.randint(0, 16))
        self.share = rng.choice(SHARE_SETS) if rng.random() < 0.7 else []
        self.related = rng.choice(RELATED_HEADINGS)
        self.teasers = rng.randint(0, 6)
        self.teaser_sentence = rng.random() < 0.4
        self.read_more = rng.choice(READ_MORE) if rng.random() < 0.4 else ""
        self.newsletter = rng.choice(NEWSLETTERS) if rng.random() < 0.5 else ""
        self.cookie = rng.choice(COOKIES) if rng.random() < 0.6 else ""
        self.copyright = (
            rng.choice(COPYRIGHTS).format(year=2025, name=self.name) if rng.random() < 0.8 else ""
        )
        self.date_line = rng.random() < 0.35
        self.blank_lines = rng.random() < 0.5
        self.byline = rng.choice(["by", "agency", "outlet_ago", "none"])
        self.dateline = rng.random() < 0.3

    def render(self, rng: random.Random, vocab: Vocab, story: Story, day: int) -> str:
        y, m, d = 2024 + day // 336, 1 + (day // 28) % 12, 1 + day % 28
        lines: list[str] = []
        if self.date_line:
            lines.append(f" date {y:04d}-{m:02d}-{d:02d} {rng.randint(100, 999)}")
        lines += self.nav
        lines.append(story["title"])
        if self.byline == "by":
            lines.append(f"By {rng.choice(vocab.names)} {rng.choice(vocab.names)}")
        elif self.byline == "outlet_ago":
            lines.append(f"{self.name}{rng.randint(1, 9)} hours ago")
        lines.append(
            f"{MONTHS[m - 1]} {d}, {y}"
            if rng.random() < 0.5
            else f"{d:02d}.{m:02d}.{y}, {rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}"
        )
        lines += self.share
        body = list(story["paras"])
        if self.byline == "agency":
            body[0] = f"{rng.choice(vocab.names).upper()} {rng.choice(AGENCIES)} - {body[0]}"
        elif self.dateline:
            body[0] = f"{rng.choice(vocab.names)}: {body[0]}"
        if self.read_more and len(body) > 3:
            body.insert(rng.randint(2, len(body) - 1), f"{self.read_more} {_title(rng, vocab)}")
        if self.blank_lines:
            lines.append("")
            lines.append("\n\n".join(body))
            lines.append("")
        else:
            lines += body
        if self.teasers:
            lines.append(self.related)
            for _ in range(self.teasers):
                lines.append(_title(rng, vocab))
                if self.teaser_sentence:
                    lines.append(_sentences(rng, vocab, rng.randint(12, 25))[0])
        for extra in (self.newsletter, self.cookie, self.copyright):
            if extra:
                lines.append(extra)
        return "\n".join(lines) + "\n"


def whitespace_copy(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    out = []
    for line in lines:
        if line and rng.random() < 0.3:
            line = line.replace(" ", "  ", rng.randint(1, 3))
        if line and rng.random() < 0.3:
            line += " " * rng.randint(1, 3)
        out.append(line)
        if rng.random() < 0.1:
            out.append("")
    return "\r\n".join(out)


# ---------------------------------------------------------------- corpus
def documents(n: int, seed: int = 1, n_outlets: int = 40) -> Iterator[tuple[str, dict[str, Any]]]:
    """``n`` (text, label) pairs in output order (label without ``id``)."""
    rng = random.Random(seed)
    vocab = Vocab(rng)
    outlets = [Outlet(rng, vocab, i) for i in range(n_outlets)]
    pending: list[tuple[int, int, str, dict[str, Any]]] = []  # (due position, seq, text, label)
    seq = 0
    emitted = 0
    clusters = 0
    while emitted < n:
        if pending and (pending[0][0] <= emitted or emitted + len(pending) >= n):
            _, _, text, label = heapq.heappop(pending)
            emitted += 1
            yield text, label
            continue
        clusters += 1
        cid = f"c{clusters:07d}"
        story = new_story(rng, vocab)
        outlet = rng.choice(outlets)
        day = rng.randrange(672)
        text = outlet.render(rng, vocab, story, day)
        members: list[tuple[str, dict[str, Any]]] = []
        room = n - emitted - len(pending) - 1
        if rng.random() < 0.2 and room > 0:
            for _ in range(rng.randint(1, 3)):
                v, ops = variant_of(rng, vocab, story)
                other = rng.choice([o for o in outlets if o is not outlet])
                members.append(
                    (
                        other.render(rng, vocab, v, day + rng.randint(0, 3)),
                        {
                            "cluster": cid,
                            "role": "variant",
                            "outlet": other.key,
                            "negative_of": None,
                            "ops": ops,
                        },
                    )
                )
            if rng.random() < 0.35:
                members.append(
                    (
                        text,
                        {
                            "cluster": cid,
                            "role": "exact_copy",
                            "outlet": outlet.key,
                            "negative_of": None,
                            "ops": [],
                        },
                    )
                )
            if rng.random() < 0.25:
                members.append(
                    (
                        whitespace_copy(rng, text),
                        {
                            "cluster": cid,
                            "role": "whitespace_copy",
                            "outlet": outlet.key,
                            "negative_of": None,
                            "ops": ["whitespace"],
                        },
                    )
                )
            if rng.random() < 0.3:
                neg = hard_negative_of(rng, vocab, story)
                members.append(
                    (
                        outlet.render(rng, vocab, neg, rng.randrange(672)),
                        {
                            "cluster": f"n{clusters:07d}",
                            "role": "hard_negative",
                            "outlet": outlet.key,
                            "negative_of": cid,
                            "ops": [],
                        },
                    )
                )
            members = members[:room]
        dup_members = sum(1 for _, lab in members if lab["role"] != "hard_negative")
        role = "original" if dup_members else "singleton"
        emitted += 1
        yield text, {"cluster": cid, "role": role, "outlet": outlet.key, "negative_of": None, "ops": []}
        for mtext, mlabel in members:
            seq += 1
            heapq.heappush(pending, (emitted + rng.randint(1, MAX_DELAY), seq, mtext, mlabel))


def doc_path(i: int) -> str:
    return f"{i // PER_FOLDER:05d}/{i:08d}.txt"


def generate(out: str | os.PathLike[str], n: int, seed: int = 1, progress: bool = False) -> dict[str, Any]:
    """Write the corpus into ``out``; return a summary (docs, bytes, roles)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    roles: dict[str, int] = {}
    total = 0
    t0 = time.perf_counter()
    folder = None
    with open(out / "clusters.jsonl", "w", encoding="utf-8", newline="\n") as labels:
        for i, (text, label) in enumerate(documents(n, seed)):
            rel = doc_path(i)
            if i % PER_FOLDER == 0:
                folder = out / rel.split("/")[0]
                folder.mkdir(exist_ok=True)
            data = text.encode("utf-8")
            with open(out / rel, "wb") as f:
                f.write(data)
            total += len(data)
            roles[label["role"]] = roles.get(label["role"], 0) + 1
            labels.write(json.dumps({"id": rel, **label}, sort_keys=False) + "\n")
            if progress and (i + 1) % 100000 == 0:
                print(
                    f"  {i + 1} docs, {total / 1e6:.0f} MB, {time.perf_counter() - t0:.0f} s", file=sys.stderr
                )
    return {
        "docs": n,
        "bytes": total,
        "roles": dict(sorted(roles.items())),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder to write (created)")
    ap.add_argument("--docs", type=int, required=True, help="number of documents")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.docs < 1:
        ap.error("--docs must be >= 1")
    summary = generate(args.out, args.docs, args.seed, progress=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
