#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the base-vs-new section of BENCHMARKS.md from one run of
bench/compare.sh.

    python3 bench/compare.py RESULTS_DIR OUT.md

RESULTS_DIR holds what compare.sh wrote, in the files and format of run.sh
(bench/report.py): each tool of a case appears as TOOL@base and TOOL@new,
and a tool without "@" (case 1's cp) is the physical limit.

The section sits between <!-- compare: begin --> and <!-- compare: end -->.
An existing section is replaced where it stands; otherwise the section goes
just before the <!-- ideas --> line, or at the end.  Nothing else of OUT.md
changes, and bench/report.py keeps the section when run.sh rewrites the rest.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import IDEAS_MARK, Report, f2, fwall  # noqa: E402

BEGIN, END = "<!-- compare: begin -->", "<!-- compare: end -->"
SLACK = 1.05        # new median ≤ base median × this: no slower

TITLES = {
    "1": "1 GiB of random data on /dev/shm → one new file",
    "2": "The same 1 GiB → 4 new files",
    "4": "A sparse image of {virt4} GiB holding 64 MiB of data → a new file",
    "5": "{c5} copy-on-write jobs of 4 KiB through the library, window 32, on /dev/shm",
    "6": "{c6} queued jobs of 1 sector with a 4 MiB pool, through the library",
}


def spread(t):
    return "–" if t.wall_min is None else "%s–%s" % (fwall(t.wall_min), fwall(t.wall_max))


def judge(base, new):
    """(verdict word, why) for one tool's two builds."""
    if not base.usable or not new.usable:
        return None, "no verdict: %s has no valid figures" % ("base" if not base.usable else "new")
    if new.wall <= base.wall * SLACK:
        return True, "new median ≤ base median × %.2f" % SLACK
    if new.wall <= base.wall_max:
        return True, "new median within the base's own min–max"
    return False, "new median %.3f s > base median × %.2f (%.3f s) and above the base's slowest run (%.3f s)" % (
        new.wall, SLACK, base.wall * SLACK, base.wall_max)


class Compare(Report):
    def case(self, case):
        tools = self.tools(case)
        if not tools:
            return None, None
        names = []
        for n in tools:
            if "@" in n and n.split("@")[0] not in names:
                names.append(n.split("@")[0])
        title = TITLES[case].format(virt4=self.machine.get("c4_virt_gib", "8"),
                                    c5="{:,}".format(int(num0(self.machine.get("c5_jobs")))).replace(",", " "),
                                    c6="{:,}".format(int(num0(self.machine.get("c6_jobs")))).replace(",", " "))
        out = ["### Case %s. %s" % (case, title), "",
               "| Tool | Base median wall s | New median wall s | New / base | Base min–max s | New min–max s "
               "| Base CPU s | New CPU s | Base peak RSS MiB | New peak RSS MiB | Runs ok base, new | Verdict |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        verdicts, extra = [], []
        empty = Tool0()
        for n in names:
            b, w = tools.get(n + "@base", empty), tools.get(n + "@new", empty)
            ok, why = judge(b, w)
            verdicts.append((n, ok, why))
            r = w.wall / b.wall if b.usable and w.usable else None
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s | %s |" % (
                n, fwall(b.wall), fwall(w.wall), f2(r), spread(b), spread(w), f2(b.cpu), f2(w.cpu),
                f2(b.rss_mib, "%.1f"), f2(w.rss_mib, "%.1f"), b.runs_cell(), w.runs_cell(),
                "–" if ok is None else "ok" if ok else "**SLOWER**"))
            for key, what, fmt in (("jobs_per_s", "jobs/s", "%.0f"), ("bytes_per_job", "bytes per queued job", "%.0f"),
                                   ("submit_s", "submit s (every job queued)", "%.3f"),
                                   ("drain_s", "drain s (every job run)", "%.3f"),
                                   ("alloc_kb", "output allocated KiB", "%.0f")):
                if b.x(key) is not None or w.x(key) is not None:
                    extra.append("- %s, median %s: base %s, new %s" % (n, what, f2(b.x(key), fmt), f2(w.x(key), fmt)))
        for n, t in tools.items():
            if "@" not in n:
                new = tools.get("kcopyd@new")
                vs = ""
                if t.usable and new is not None and new.usable:
                    vs = "; the new kcopyd takes %.2f × its time" % (new.wall / t.wall)
                extra.append("- the limit, %s: median %s s (min–max %s), CPU %s s, peak RSS %s MiB, runs ok %s%s" % (
                    n, fwall(t.wall), spread(t), f2(t.cpu), f2(t.rss_mib, "%.1f"), t.runs_cell(), vs))
        if extra:
            out += [""] + extra
        out += self.how(case, names + [n for n in tools if "@" not in n])
        if self.notes.get(case):
            out += [""] + ["- %s" % n for n in self.notes[case]]
        slower = [n for n, ok, _ in verdicts if ok is False]
        unknown = [n for n, ok, _ in verdicts if ok is None]
        if slower:
            word = "**SLOWER**"
        elif unknown and len(unknown) == len(verdicts):
            word = "**no verdict**"
        else:
            word = "**no slower beyond noise**"
        out += ["", "Verdict: %s%s" % (word, "".join(
            "\n- %s: %s" % (n, why) for n, _, why in verdicts))]
        summary = "%s%s" % (word.strip("*"), " (%s)" % ", ".join(slower) if slower else
                            " (no figures: %s)" % ", ".join(unknown) if unknown else "")
        return "\n".join(out), summary

    def section(self):
        m = self.machine
        doc = [BEGIN, "## Two builds side by side: %s (base) against %s (new)" % (
            m.get("base", "?").split(" ")[0], m.get("new", "?").split(" ")[0]), "",
               "Written by `bash bench/compare.sh` (how to run it and read it: bench/README.md); "
               "bench/run.sh keeps this section as it is when it rewrites the rest of the file.", "",
               "| | |", "| --- | --- |"]
        for k, name in (("date", "Date"), ("base", "Base"), ("new", "New"), ("cpu", "CPU"), ("nproc", "Cores (nproc)"),
                        ("kernel", "Kernel"), ("load_start", "Load average at start"),
                        ("load_end", "Load average at end"), ("mode", "Mode"), ("cases", "Cases"),
                        ("rounds", "Counted rounds"), ("duration", "Duration")):
            if k in m:
                doc.append("| %s | %s |" % (name, m[k].replace("|", "/")))
        for n in self.notes.get("0", []):
            doc += ["", "> %s" % n]
        doc += ["", "Every round runs each tool's two builds back to back, the base first in odd rounds and "
                "the new build first in even ones; round 0 is a warm-up and is not counted. Every output is "
                "compared with its source before its time counts; a tool that wrote a wrong copy even once "
                "has no figures. A tool is **no slower beyond noise** when its new median wall time is at most "
                "1.05 × the base median, or no longer than the base's slowest counted run; else **SLOWER**.",
                ""]
        body, summary = [], []
        for case in ("1", "2", "4", "5", "6"):
            sec, s = self.case(case)
            if sec:
                body.append(sec)
                summary.append("| %s | %s |" % (case, s))
        doc += ["| Case | Verdict |", "| --- | --- |"] + summary + [""]
        doc += ["\n\n".join(body), "", END]
        return "\n".join(doc)


class Tool0:
    """A build that has no runs of a tool."""
    usable = False
    wall = wall_min = wall_max = cpu = rss_mib = None

    def x(self, key):
        return None

    def runs_cell(self):
        return "not run"


def num0(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return 0


def put_section(path, section):
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if block.search(text):
        text = block.sub(lambda _: section + "\n", text, count=1)
    else:
        m = re.search(r"^" + re.escape(IDEAS_MARK) + r"[ \t]*$", text, re.M)
        if m:
            text = text[:m.start()] + section + "\n\n" + text[m.start():]
        else:
            text = text + ("\n" if text and not text.endswith("\n") else "") + ("\n" if text else "") + section + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py RESULTS_DIR OUT.md")
    put_section(sys.argv[2], Compare(sys.argv[1]).section())


if __name__ == "__main__":
    main()
