#!/usr/bin/env python3
"""Checks that splitting the README into docs/ lost nothing.

    scripts/check-doc-move.py [REV]

Every non-blank line of README.md as of REV (default 1e565ae, the last commit
with the single long README) must appear as a line of the current README.md or
of some docs/*.md file, compared after stripping surrounding whitespace and
heading marks (headings moved one level up). The reference tables the README
copied from results/reference/report.md are expected to be gone: lines of REV's
README that are table rows of results/reference/report.md are counted apart.
Prints every other missing line with its old line number; exits 1 if any.
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def norm(line: str) -> str:
    return line.strip().lstrip('#').strip()


def main(argv):
    rev = argv[0] if argv else '1e565ae'
    old = subprocess.run(['git', 'show', f'{rev}:README.md'], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split('\n')
    new = set()
    for md in [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]:
        new.update(norm(l) for l in md.read_text(encoding='utf-8').split('\n'))
    report = ROOT / 'results' / 'reference' / 'report.md'
    reference_rows = {norm(l) for l in report.read_text(encoding='utf-8').split('\n') if l.startswith('|')}
    missing, reference = [], 0
    for number, line in enumerate(old, 1):
        n = norm(line)
        if not n or n in new:
            continue
        if n in reference_rows:
            reference += 1
            continue
        missing.append((number, line))
    for number, line in missing:
        print(f'README.md@{rev}:{number}: {line}')
    print(f'{sum(1 for l in old if norm(l))} non-blank lines; {reference} reference-table rows '
          f'left to results/reference/report.md; {len(missing)} other lines not found')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
