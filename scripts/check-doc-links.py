#!/usr/bin/env python3
"""Checks every relative link in README.md and docs/*.md.

    scripts/check-doc-links.py [FILE.md ...]

A link `[text](path)`, `[text](path#anchor)` or `[text](#anchor)` must name a
file or directory that exists (relative to the file holding the link) and,
when it has an anchor, a heading of that Markdown file whose GitHub-style
anchor matches. Links with a scheme (https:, mailto:) are not checked, and
neither is text inside code spans or fenced code blocks. Prints each broken
link as FILE:LINE: problem, and exits 1 if there is any.
"""
import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r'(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+"[^"]*")?\)|!\[[^\]]*\]\(([^()\s]+)\)')
FENCE = re.compile(r'^\s*(```|~~~)')


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r'<[^>]+>', '', heading)            # inline HTML
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)  # links keep their text
    text = text.strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in ' -':
            out.append('-' if ch == ' ' else ch)
        elif ch == '_' or cat[0] in 'LN' or cat == 'Mn':
            out.append(ch)
        # everything else (punctuation, symbols, backticks) is dropped
    return ''.join(out)


def lines_outside_code(text: str):
    """(line number, line) pairs outside fenced and indented code blocks."""
    fenced = False
    indented = False
    previous_blank = True
    for number, line in enumerate(text.split('\n'), 1):
        if FENCE.match(line):
            fenced = not fenced
            previous_blank = False
            continue
        if fenced:
            continue
        blank = not line.strip()
        if line.startswith('    ') and not blank and (previous_blank or indented):
            indented = True   # an indented code block starts after a blank line
        elif not blank:
            indented = False
        previous_blank = blank
        if not indented and not blank:
            yield number, line


def blank_code_spans(line: str) -> str:
    return re.sub(r'`[^`]*`', lambda m: ' ' * len(m.group(0)), line)


_anchor_cache = {}


def anchors_of(path: pathlib.Path):
    if path not in _anchor_cache:
        seen = {}
        anchors = set()
        for _, line in lines_outside_code(path.read_text(encoding='utf-8')):
            m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
            if not m:
                continue
            base = github_anchor(m.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f'{base}-{count}')
        _anchor_cache[path] = anchors
    return _anchor_cache[path]


def check(md: pathlib.Path):
    problems = []
    text = md.read_text(encoding='utf-8')
    for number, line in lines_outside_code(text):
        for m in LINK.finditer(blank_code_spans(line)):
            target = m.group(1) or m.group(2)
            if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', target):
                continue  # https:, mailto:, ...
            path_part, _, anchor = target.partition('#')
            dest = (md.parent / path_part).resolve() if path_part else md
            where = f'{md.relative_to(ROOT)}:{number}'
            if not dest.exists():
                problems.append(f'{where}: {target}: no such file {path_part}')
                continue
            if anchor:
                if dest.is_dir() or dest.suffix.lower() != '.md':
                    problems.append(f'{where}: {target}: an anchor on a file that is not Markdown')
                elif anchor not in anchors_of(dest):
                    problems.append(f'{where}: {target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}')
    return problems


def main(argv):
    files = [pathlib.Path(a).resolve() for a in argv] or [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
    problems = []
    links = 0
    for md in files:
        problems += check(md)
        links += sum(1 for _, line in lines_outside_code(md.read_text(encoding='utf-8')) for _ in LINK.finditer(blank_code_spans(line)))
    for p in problems:
        print(p)
    print(f'{len(files)} files, {links} links, {len(problems)} broken')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
