#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write BENCHMARKS.md from one run of bench/run.sh.

    python3 bench/report.py RESULTS_DIR OUT.md

RESULTS_DIR holds what run.sh wrote: machine.tsv (key, value), results.tsv
(case, tool, round, status, wall, user, sys, max RSS KiB, key=value extras),
labels.tsv (case, tool, how it was run) and notes.tsv (case, text).

Each case of OUT.md sits between <!-- case N --> and <!-- /case N -->.
A case that this run did not measure keeps its section from the existing
OUT.md, and everything from the line <!-- ideas --> to the end of the
existing file (the lead's record of optimisation experiments) is kept as is.
So is the section bench/compare.sh writes, from <!-- compare: begin --> to
<!-- compare: end -->: it goes just before the ideas.
"""
import json
import os
import re
import statistics
import sys

CASE_IDS = ["1", "2", "3", "4", "5", "5d", "6", "cli"]

TITLES = {
    "1": "1 GiB of random data on /dev/shm → one new file",
    "2": "The same 1 GiB → 4 new files",
    "3": "{size3} on the disk, bypassing the page cache, ending on stable storage",
    "4": "A sparse image of {virt4} GiB holding 64 MiB of data → a new file",
    "5": "100 000 copy-on-write jobs of 4 KiB through the library, on /dev/shm",
    "5d": "100 000 copy-on-write jobs of 4 KiB through the library, on the disk (O_DIRECT)",
    "6": "1 000 000 queued jobs with a 4 MiB pool, through the library",
    "cli": "Issue 3: `kcopyd copy` next to dd, cp, nbdcopy, qemu-img and dcfldd, 1 GiB on /dev/shm",
}

GOALS = {
    "1": "≤ 0.80 × the fastest peer's wall time, and the fewest CPU seconds of all.",
    "2": "≤ 0.50 × dcfldd, ≤ 0.35 × four nbdcopy runs.",
    "3": "≥ 0.90 × the fio limit's throughput, and faster than every peer.",
    "4": "≤ 1.2 × the time of the 64 MiB dense copy, and ahead of every peer.",
    "5": "≥ 0.90 × the fio bound in jobs per second.",
    "5d": "≥ 0.90 × the fio bound in jobs per second.",
    "6": "data memory never above the pool; ≤ 256 bytes per queued job beyond it.",
    "cli": "(issue 3, no numeric goal) the command side by side with its peers: median wall, CPU, peak RSS.",
}

IDEAS_MARK = "<!-- ideas -->"
COMPARE_RE = re.compile(r"<!-- compare: begin -->\n.*?<!-- compare: end -->", re.S)
IDEAS_DEFAULT = """## Ideas tried

Kept by `bench/run.sh` when it rewrites this file: record here each
optimisation tried, the case it targets, the medians before and after (same
machine, same run mode) and whether it was kept.

| Idea | Case | Before | After | Kept? |
| --- | --- | --- | --- | --- |
"""


def read_tsv(path):
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    rows.append(line.split("\t"))
    return rows


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def parse_extra(s):
    out = {}
    for kv in (s or "").split():
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k] = num(v) if num(v) is not None else v
    return out


class Run:
    def __init__(self, row):
        row = row + [""] * (9 - len(row))
        self.case, self.tool, self.round, self.status = row[0], row[1], int(row[2]), row[3]
        self.wall, self.user, self.sys, self.rss = (num(x) for x in row[4:8])
        self.extra = parse_extra(row[8])

    @property
    def cpu(self):
        if self.user is None or self.sys is None:
            return None
        return self.user + self.sys


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Tool:
    """The runs of one tool in one case, and their medians."""

    def __init__(self, name, runs):
        self.name = name
        self.runs = runs
        self.ok = [r for r in runs if r.status == "ok"]
        self.n_ok = len(self.ok)
        self.wrong = sum(r.status == "wrong" for r in runs)
        self.failed = sum(r.status == "failed" for r in runs)
        self.wall = med(r.wall for r in self.ok)
        self.wall_min = min((r.wall for r in self.ok), default=None)
        self.wall_max = max((r.wall for r in self.ok), default=None)
        self.cpu = med(r.cpu for r in self.ok)
        self.rss_mib = None if med(r.rss for r in self.ok) is None else med(r.rss for r in self.ok) / 1024
        if self.wrong:
            # A tool that produced a wrong copy even once gets no figures:
            # a fast wrong copy must not be reported.
            self.ok = []
            self.wall = self.wall_min = self.wall_max = self.cpu = self.rss_mib = None

    def x(self, key):
        """Median of an extra value over the good runs."""
        return med(r.extra.get(key) if isinstance(r.extra.get(key), float) else None for r in self.ok)

    @property
    def usable(self):
        # A tool that ever produced a wrong copy is not reported as a result.
        return bool(self.ok) and not self.wrong

    def runs_cell(self):
        s = "%d/%d" % (self.n_ok, len(self.runs))
        if self.wrong:
            s += " **%d WRONG OUTPUT**" % self.wrong
        if self.failed:
            s += " (%d failed)" % self.failed
        return s


def f2(v, fmt="%.2f"):
    return "–" if v is None else fmt % v


def fwall(v):
    if v is None:
        return "–"
    return "%.3f" % v if v < 10 else "%.2f" % v


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def verdict(ok):
    return "**met**" if ok else "**not met**"


class Report:
    def __init__(self, resdir):
        self.machine = dict((r[0], r[1] if len(r) > 1 else "") for r in read_tsv(os.path.join(resdir, "machine.tsv")))
        self.runs = [Run(r) for r in read_tsv(os.path.join(resdir, "results.tsv"))]
        self.labels = {(r[0], r[1]): r[2] for r in read_tsv(os.path.join(resdir, "labels.tsv")) if len(r) > 2}
        self.notes = {}
        for r in read_tsv(os.path.join(resdir, "notes.tsv")):
            if len(r) > 1 and r[1] not in self.notes.setdefault(r[0], []):
                self.notes[r[0]].append(r[1])

    def tools(self, case):
        order = []
        for r in self.runs:
            if r.case == case and r.tool not in order:
                order.append(r.tool)
        return {t: Tool(t, [r for r in self.runs if r.case == case and r.tool == t]) for t in order}

    def measured_line(self):
        m = self.machine
        return "Measured %s, %s mode, median of %s counted rounds after one warm-up round, tools alternating run by run." % (
            m.get("date", "?"), m.get("mode", "?"), m.get("rounds", "?"))

    # ---- cases 1-4: whole-file copies ------------------------------------

    def ref(self, tools, base="kcopyd"):
        """The row the ratios are taken against: the command, else the library."""
        if base in tools and tools[base].usable:
            return base
        alt = base.replace("kcopyd", "lib-copy")
        if alt in tools and tools[alt].usable:
            return alt
        return None

    def copy_table(self, case, tools, ref):
        size = num(self.machine.get("size_mib_" + case))
        refname = ref or "kcopyd"
        alloc = case == "4"
        head = "MiB/s | " if size else "Output allocated MiB | " if alloc else ""
        lines = ["| Tool | Median wall s | Wall min–max s | %sMedian CPU s | Median peak RSS MiB | Wall / %s | Runs ok |"
                 % (head, refname),
                 "| --- | ---: | ---: | %s---: | ---: | ---: | --- |" % ("---: | " if head else "")]
        refwall = tools[ref].wall if ref else None
        for t in tools.values():
            extra = ""
            if size:
                extra = "%s | " % (f2(size / t.wall, "%.0f") if t.wall else "–")
            elif alloc:
                a = t.x("alloc_kb")
                extra = "%s | " % f2(a and a / 1024, "%.1f")
            lines.append("| %s | %s | %s | %s%s | %s | %s | %s |" % (
                "**%s**" % t.name if t.name == ref else t.name, fwall(t.wall),
                "–" if t.wall_min is None else "%s–%s" % (fwall(t.wall_min), fwall(t.wall_max)), extra, f2(t.cpu), f2(t.rss_mib, "%.1f"),
                f2(ratio(t.wall, refwall)) if t.usable else "–", t.runs_cell()))
        return lines

    def how(self, case, tools):
        out = ["", "How each tool was run:", ""]
        for t in tools:
            out.append("- **%s**: %s" % (t, self.labels.get((case, t), "?")))
        return out

    def goal_copy(self, case, tools, ref):
        """Returns (lines, summary) for cases 1-4."""
        if not ref:
            return ["No kcopyd row (command or library) succeeded: the goal cannot be judged."], "no kcopyd result"
        r = tools[ref]
        usable = {n: t for n, t in tools.items() if t.usable}
        lines, parts, met = [], [], True

        def need(name):
            if name not in usable:
                lines.append("- %s: no valid result, not compared." % name)
                return None
            return usable[name]

        if case == "1":
            peers = [usable[p] for p in ("cp", "nbdcopy", "qemu-img", "dd") if p in usable]
            if peers:
                fastest = min(peers, key=lambda t: t.wall)
                q = r.wall / fastest.wall
                ok = q <= 0.80
                cheapest = min(peers, key=lambda t: t.cpu)
                cpu_ok = r.cpu is not None and all(r.cpu < p.cpu for p in peers)
                lines.append("- wall: %s %.3f s vs the fastest peer, %s, %.3f s: ratio **%.2f** (goal ≤ 0.80): %s"
                             % (ref, r.wall, fastest.name, fastest.wall, q, verdict(ok)))
                lines.append("- CPU: %s %.2f s vs the least of the peers, %s, %.2f s: %s"
                             % (ref, r.cpu, cheapest.name, cheapest.cpu, verdict(cpu_ok)))
                parts.append("%.2f × %s; CPU %.2f s vs %.2f s" % (q, fastest.name, r.cpu, cheapest.cpu))
                met = ok and cpu_ok
        elif case == "2":
            for peer, goal in (("dcfldd", 0.50), ("nbdcopy-x4", 0.35)):
                p = need(peer)
                if p:
                    q = r.wall / p.wall
                    lines.append("- vs %s: %.3f s / %.3f s = **%.2f** (goal ≤ %.2f): %s"
                                 % (peer, r.wall, p.wall, q, goal, verdict(q <= goal)))
                    parts.append("%.2f × %s" % (q, peer))
                    met = met and q <= goal
                else:
                    met = False
        elif case in ("3", "4"):
            if case == "3":
                fio = need("fio")
                if fio:
                    q = fio.wall / r.wall
                    lines.append("- throughput vs the fio limit: %.3f s / %.3f s = **%.2f** of the limit (goal ≥ 0.90): %s"
                                 % (fio.wall, r.wall, q, verdict(q >= 0.90)))
                    parts.append("%.2f of the fio limit" % q)
                met = bool(fio) and q >= 0.90
                peers = ("dd", "qemu-img", "nbdcopy")
            else:
                dense = need(ref + "-dense")
                if dense:
                    q = r.wall / dense.wall
                    lines.append("- vs the 64 MiB dense copy (%s-dense): %.3f s / %.3f s = **%.2f** (goal ≤ 1.2): %s"
                                 % (ref, r.wall, dense.wall, q, verdict(q <= 1.2)))
                    parts.append("%.2f × the dense copy" % q)
                met = bool(dense) and q <= 1.2
                peers = ("cp", "nbdcopy", "qemu-img")
            slower = []
            for p in peers:
                t = need(p)
                if t:
                    ok = r.wall < t.wall
                    lines.append("- vs %s: %.2f × its time: %s" % (p, r.wall / t.wall, "faster" if ok else "**slower**"))
                    if not ok:
                        slower.append(p)
            parts.append("slower than " + ", ".join(slower) if slower else "faster than every peer")
            met = met and not slower
        if ref != "kcopyd" and case != "4":
            lines.append("- (judged on bench/lib-copy, the library: the kcopyd command has no valid result in this run)")
        if ref == "kcopyd" and "lib-copy" in usable and case in ("1", "2", "3"):
            lib = usable["lib-copy"]
            lines.append("- the library alone (bench/lib-copy): %.3f s, %.2f × kcopyd" % (lib.wall, lib.wall / r.wall))
        lines.append("")
        lines.append("Overall: %s" % verdict(met))
        return lines, "%s — %s" % ("; ".join(parts) or "–", "met" if met else "not met")

    # ---- case 5: small jobs ---------------------------------------------

    def case5(self, case, tools):
        lines = ["| Tool | Median jobs/s (fio: IOPS) | p50 latency µs | p99 latency µs | CPU µs per job (fio: per I/O) | Median peak RSS MiB | vs bound | Runs ok |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        rd, wr = tools.get("fio-randread"), tools.get("fio-randwrite")
        bound = None
        if rd and wr and rd.usable and wr.usable and rd.x("iops") and wr.x("iops"):
            bound = 1.0 / (1.0 / rd.x("iops") + 1.0 / wr.x("iops"))
        for t in tools.values():
            if t.name.startswith("fio"):
                rate, p50, p99 = t.x("iops"), None, None
                cpu = t.x("cpu_us_per_io")
            else:
                rate, p50, p99 = t.x("jobs_per_s"), t.x("lat_p50_us"), t.x("lat_p99_us")
                jobs = t.x("jobs")
                cpu = None if not jobs else med(r.extra.get("cpu_s", 0) * 1e6 / jobs for r in t.ok)
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                t.name, f2(rate, "%.0f"), f2(p50, "%.0f"), f2(p99, "%.0f"), f2(cpu, "%.2f"),
                f2(t.rss_mib, "%.1f"), f2(ratio(rate, bound)) if not t.name.startswith("fio") else "–",
                t.runs_cell()))
        if bound:
            lines.append("| **fio bound** 1/(1/read IOPS + 1/write IOPS) | %.0f | | | | | 1.00 | |" % bound)
        goal, parts, met = [], [], False
        if not bound:
            goal.append("No fio bound (a fio run failed): the goal cannot be judged.")
            return lines, goal, "no fio bound"
        for name, what in (("lib-window32", "at most 32 outstanding, like fio's iodepth 32"),
                           ("lib-all", "all submitted at once")):
            t = tools.get(name)
            if t and t.usable:
                q = t.x("jobs_per_s") / bound
                goal.append("- %s (%s): %.0f jobs/s = **%.2f** × the bound (goal ≥ 0.90): %s"
                            % (name, what, t.x("jobs_per_s"), q, verdict(q >= 0.90)))
                parts.append("%s %.2f" % (name, q))
                met = met or q >= 0.90
        goal.append("")
        goal.append("Overall (met if either submission pattern reaches it): %s" % verdict(met))
        return lines, goal, "%s × bound — %s" % ("; ".join(parts) or "–", "met" if met else "not met")

    # ---- case 6: memory per queued job -----------------------------------

    @staticmethod
    def drain_growth(t):
        """KiB the peak RSS rose above the RSS with every job queued (0: the
        peak was the queue itself; ru_maxrss and statm differ by a few pages)."""
        return med(max(0.0, r.extra.get("maxrss_kb", 0) - r.extra.get("rss_queued_kb", 0)) for r in t.ok)

    def case6(self, tools):
        lines = ["| Tool | Median bytes per queued job | RSS queued MiB | Peak RSS MiB | Peak − queued KiB | Client beyond pool KiB | Submit s | Drain jobs/s | Median wall s | Median CPU s | Runs ok |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for t in tools.values():
            growth = self.drain_growth(t) if t.ok else None
            queued = t.x("rss_queued_kb")
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                t.name, f2(t.x("bytes_per_job"), "%.0f"), f2(queued and queued / 1024, "%.1f"),
                f2(t.x("maxrss_kb") and t.x("maxrss_kb") / 1024, "%.1f"), f2(growth, "%.0f"),
                f2(t.x("client_overhead_kb"), "%.0f"), f2(t.x("submit_s"), "%.3f"),
                f2(t.x("jobs_per_s"), "%.0f"), fwall(t.wall), f2(t.cpu), t.runs_cell()))
        t = tools.get("lib-queue")
        if not t or not t.usable:
            return lines, ["No valid `lib-queue` run: the goal cannot be judged."], "no result"
        bpj = t.x("bytes_per_job")
        growth = self.drain_growth(t)
        ok_b = bpj <= 256
        ok_d = growth <= 1024
        goal = ["- bytes per queued job: **%.0f** (goal ≤ 256): %s" % (bpj, verdict(ok_b)),
                "- data memory: peak RSS while the million jobs ran exceeded the RSS with all of them queued "
                "(pool included) by %.0f KiB (pool: %.0f KiB; ≤ 1 MiB counts as no data memory beyond the pool): %s"
                % (growth, t.x("pool_kb") or 0, verdict(ok_d)),
                "", "Overall: %s" % verdict(ok_b and ok_d)]
        return lines, goal, "%.0f B/job, drain grew %.0f KiB — %s" % (bpj, growth, "met" if ok_b and ok_d else "not met")

    # ---- case cli: issue 3's side-by-side of the command ------------------

    def case_cli(self, tools):
        """Three-destination rows against kcopyd-3d, the others against kcopyd."""
        size = 1024.0
        lines = ["| Tool | Destinations | Median wall s | Wall min–max s | MiB/s read | Median CPU s | Median peak RSS MiB | Wall / kcopyd | CPU / kcopyd | Runs ok |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

        def base(t):
            return tools.get("kcopyd-3d" if t.name.endswith("-3d") else "kcopyd")

        for t in tools.values():
            b = base(t)
            ok = t.usable and b is not None and b.usable
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "**%s**" % t.name if t.name.startswith("kcopyd") else t.name,
                3 if t.name.endswith("-3d") else 1, fwall(t.wall),
                "–" if t.wall_min is None else "%s–%s" % (fwall(t.wall_min), fwall(t.wall_max)),
                f2(size / t.wall, "%.0f") if t.wall else "–", f2(t.cpu), f2(t.rss_mib, "%.1f"),
                f2(ratio(t.wall, b.wall)) if ok else "–", f2(ratio(t.cpu, b.cpu)) if ok else "–",
                t.runs_cell()))
        goal, parts = [], []
        k1, k3 = tools.get("kcopyd"), tools.get("kcopyd-3d")
        usable = {n: t for n, t in tools.items() if t.usable}
        if k1 and k1.usable:
            peers = [usable[p] for p in ("dd", "cp", "nbdcopy", "qemu-img") if p in usable]
            if peers:
                fastest = min(peers, key=lambda t: t.wall)
                cheapest = min(peers, key=lambda t: t.cpu)
                lightest = min(peers, key=lambda t: t.rss_mib)
                goal.append("- one destination: kcopyd %.3f s vs the fastest peer, %s, %.3f s: **%.2f** × its time; "
                            "CPU %.2f s vs the least, %s, %.2f s; peak RSS %.1f MiB vs the least, %s, %.1f MiB"
                            % (k1.wall, fastest.name, fastest.wall, k1.wall / fastest.wall, k1.cpu, cheapest.name,
                               cheapest.cpu, k1.rss_mib, lightest.name, lightest.rss_mib))
                parts.append("1 dest: %.2f × %s" % (k1.wall / fastest.wall, fastest.name))
        else:
            goal.append("- one destination: no valid kcopyd result.")
        d3 = usable.get("dcfldd-3d")
        if k3 and k3.usable and d3:
            goal.append("- three destinations: kcopyd %.3f s vs dcfldd %.3f s: **%.2f** × its time; CPU %.2f s vs %.2f s; "
                        "peak RSS %.1f MiB vs %.1f MiB" % (k3.wall, d3.wall, k3.wall / d3.wall, k3.cpu, d3.cpu,
                                                           k3.rss_mib, d3.rss_mib))
            parts.append("3 dests: %.2f × dcfldd" % (k3.wall / d3.wall))
        else:
            goal.append("- three destinations: no valid kcopyd-3d or dcfldd-3d result.")
        return lines, goal, "; ".join(parts) or "no result"

    # ---- assembling -------------------------------------------------------

    def section(self, case):
        tools = self.tools(case)
        if not tools:
            return None, None
        size3 = num(self.machine.get("size_mib_3")) or 2048
        title = TITLES[case].format(
            size3="%g GiB" % (size3 / 1024) if size3 >= 1024 else "%d MiB" % size3,
            virt4=self.machine.get("c4_virt_gib", "8"))
        out = ["<!-- case %s -->" % case, "## %s. %s" % (case, title), "", self.measured_line(), ""]
        if case in ("1", "2", "3", "4"):
            ref = self.ref(tools)
            out += self.copy_table(case, tools, ref)
            goal, summary = self.goal_copy(case, tools, ref)
        elif case in ("5", "5d"):
            table, goal, summary = self.case5(case, tools)
            out += table
        elif case == "cli":
            table, goal, summary = self.case_cli(tools)
            out += table
        else:
            table, goal, summary = self.case6(tools)
            out += table
        out += self.how(case, tools)
        if self.notes.get(case):
            out += [""] + ["- %s" % n for n in self.notes[case]]
        if case == "cli":
            out += ["", "**Issue 3** asks for this comparison (its \"Done when\"); there is no numeric goal. "
                    "Wall / kcopyd and CPU / kcopyd: against kcopyd-3d for the three-destination rows, "
                    "against kcopyd for the others (above 1: kcopyd is faster / cheaper).", ""] + goal
        else:
            out += ["", "**Goal** (issue 4): %s" % GOALS[case], ""] + goal
        out += ["", "<!-- summary: %s -->" % json.dumps({"date": self.machine.get("date", "?"), "result": summary}),
                "<!-- /case %s -->" % case]
        return "\n".join(out), summary

    def header(self):
        m = self.machine
        h = ["# Benchmarks", "",
             "Written by `bash bench/run.sh` (how to run it and read it: bench/README.md). "
             "Everything above the section \"Ideas tried\" is regenerated; that section (from its marker "
             "comment on) is kept as it is, and so is the section bench/compare.sh writes, if there is one.", "",
             "| Machine | |", "| --- | --- |"]
        for k, name in (("date", "Date"), ("cpu", "CPU"), ("nproc", "Cores (nproc)"), ("memory", "Memory"),
                        ("kernel", "Kernel"), ("os", "OS"), ("shm_fs", "/dev/shm"), ("disk_fs", "Disk (cases 3, 5d)"),
                        ("load_start", "Load average at start"), ("load_end", "Load average at end"),
                        ("rev", "kcopyd revision"), ("versions", "Peers"), ("mode", "Mode"),
                        ("rounds", "Counted rounds"), ("duration", "Suite duration")):
            if k in m:
                h.append("| %s | %s |" % (name, m[k].replace(";", "; ").replace("|", "/")))
        for n in self.notes.get("0", []):
            h += ["", "> %s" % n]
        h += ["", "The machine is shared and noisy; tmpfs pages written for the first time after being freed "
              "can be slow to fault in on this VM, so the warm-up round matters and single runs vary. "
              "Compare medians, and look at the min–max spread before trusting a small difference.", ""]
        return h


def old_sections(path):
    """Case sections, the compare.sh section (if it stands before the ideas;
    after them the ideas tail keeps it) and the ideas tail of an existing
    BENCHMARKS.md."""
    if not os.path.exists(path):
        return {}, None, None
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^" + re.escape(IDEAS_MARK) + r"[ \t]*$", text, re.M)
    head, ideas = (text[:m.start()], text[m.start():]) if m else (text, None)
    cases = {}
    for c in re.finditer(r"<!-- case (\w+) -->\n.*?<!-- /case \1 -->", text, re.S):
        cases[c.group(1)] = c.group(0)
    compare = COMPARE_RE.search(head)
    return cases, (compare.group(0) if compare else None), ideas


def old_summary(section):
    m = re.search(r"<!-- summary: (.*) -->", section)
    try:
        return json.loads(m.group(1)) if m else None
    except ValueError:
        return None


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS_DIR OUT.md")
    rep = Report(sys.argv[1])
    out_path = sys.argv[2]
    old, compare, ideas = old_sections(out_path)
    body, summary = [], []
    for case in CASE_IDS:
        sec, s = rep.section(case)
        if sec:
            body.append(sec)
            summary.append("| %s | %s | %s |" % (case, GOALS[case], s))
        elif case in old:
            body.append(old[case])
            o = old_summary(old[case]) or {}
            summary.append("| %s | %s | %s (earlier run, %s) |" % (case, GOALS[case], o.get("result", "?"), o.get("date", "?")))
    doc = rep.header()
    doc += ["## Goals at a glance", "", "| Case | Goal | Measured |", "| --- | --- | --- |"] + summary + [""]
    doc += ["\n\n".join(body), ""]
    if compare:
        doc += [compare, ""]
    doc.append(ideas.rstrip("\n") if ideas else IDEAS_MARK + "\n" + IDEAS_DEFAULT.rstrip("\n"))
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(doc) + "\n")
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
