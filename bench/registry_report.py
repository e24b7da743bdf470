#!/usr/bin/env python3
"""Prints the tables, the target checks and the Markdown snippet of bench/registry.sh.

Reads the files and settings that registry.sh exports (RESULTS, BIG, RSS, SKOPEO_TSV and the
environment described there); not meant to be run on its own.
"""

import os
import statistics

env = os.environ
PEERS = ("swregistry", "docker-registry", "nginx")
MIB = 1048576.0


def median(xs):
    return statistics.median(xs) if xs else None


def read_rows(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


# --- Request rates ---------------------------------------------------------------------------
TESTS = {
    "manifest-get": "manifest GET",
    "manifest-head": "manifest HEAD",
    "blob-head": "blob HEAD (1 MiB blob)",
    "blob-get-1m": "blob GET 1 MiB",
}
REFERENCE = {  # what nginx serves in each test
    "manifest-get": "GET /1k.bin",
    "manifest-head": "HEAD /1k.bin",
    "blob-head": None,
    "blob-get-1m": "GET /1m.bin",
}
rates = {}   # (test, shape, peer) -> [(rps, p99, errs, non2xx)]
order = []   # (test, shape) in first-seen order
for test, shape, peer, _round, rps, p99, errs, non2xx in read_rows(env.get("RESULTS")):
    if (test, shape) not in order:
        order.append((test, shape))
    rates.setdefault((test, shape, peer), []).append((float(rps), float(p99), int(errs), int(non2xx)))


def rate(test, shape, peer):
    runs = rates.get((test, shape, peer))
    if not runs:
        return None
    return (median([r[0] for r in runs]), median([r[1] for r in runs]),
            sum(r[2] for r in runs), sum(r[3] for r in runs))


def ratio(a, b):
    return a / b if a is not None and b else None


def f_rps(s): return "%.0f" % s[0] if s else "-"
def f_p99(s): return "%.2f" % s[1] if s else "-"
def f_ratio(r): return "%.2f" % r if r is not None else "-"
def f_ratio_x(r): return ("%.1f" % r if r >= 10 else "%.2f" % r) if r is not None else "-"
def f_mbs(s): return "%.0f" % (s[0] * MIB / 1e6) if s else "-"


rate_rows = []
for test, shape in order:
    sw, dr, ng = (rate(test, shape, p) for p in PEERS)
    rate_rows.append(dict(test=test, shape=shape.replace("-c", " -c"), sw=sw, dr=dr, ng=ng,
                          sw_dr=ratio(sw and sw[0], dr and dr[0]), sw_ng=ratio(sw and sw[0], ng and ng[0])))

# --- Big transfers ---------------------------------------------------------------------------
big = {}   # (kind, peer) -> [bytes/s]
for kind, peer, _run, bps in read_rows(env.get("BIG")):
    big.setdefault((kind, peer), []).append(float(bps))
BIG_KINDS = [("get", "GET (curl)"), ("upload-mono", "upload, monolithic"), ("upload-patch", "upload, streamed PATCH")]
REF_PEER = {"get": "nginx", "upload-mono": "sink", "upload-patch": "sink"}


def gbs(kind, peer):
    xs = big.get((kind, peer))
    return (median(xs) / 1e9, min(xs) / 1e9, max(xs) / 1e9) if xs else None


def f_gbs(v): return "%.2f" % v[0] if v else "-"
def f_gbs_range(v): return "%.2f (%.2f–%.2f)" % v if v else "-"


# --- RSS -------------------------------------------------------------------------------------
rss = {}   # (phase, peer) -> [(baseline_kb, peak_kb, samples)]
for phase, peer, _run, base, peak, samples in read_rows(env.get("RSS")):
    rss.setdefault((phase, peer), []).append((int(base), int(peak), int(samples)))
RSS_PHASES = [("upload-mono", "upload, monolithic"), ("upload-patch", "upload, streamed PATCH"), ("get", "GET")]


def rss_stat(phase, peer):
    runs = rss.get((phase, peer))
    if not runs:
        return None
    base = runs[0][0] / 1024.0
    peak = max(r[1] for r in runs) / 1024.0
    growth = max(r[1] - r[0] for r in runs) / 1024.0
    return base, peak, growth, sum(r[2] for r in runs)


# --- skopeo ----------------------------------------------------------------------------------
skopeo = {}   # (peer, op) -> (seconds, bytes)
for peer, op, secs, nbytes in read_rows(env.get("SKOPEO_TSV")):
    skopeo[(peer, op)] = (float(secs), int(nbytes))

# --- Print -----------------------------------------------------------------------------------
def table(header, rows, indent="  "):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = [indent + "  ".join(str(c).ljust(w) if j == 0 else str(c).rjust(w)
                              for j, (c, w) in enumerate(zip(header, widths)))]
    out.append(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        out.append(indent + "  ".join(str(c).ljust(w) if j == 0 else str(c).rjust(w)
                                      for j, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


big_mib = env.get("BIG_MIB", "1024")
big_label = "1 GiB" if big_mib == "1024" else "%s MiB" % big_mib
print()
print("Request rates, req/s (median of %s run(s) of %ss; p99 latency in ms; errors = socket errors/non-2xx)"
      % (env["ROUNDS"], env["DURATION"]))
header = ["test", "shape", "swregistry", "docker-registry", "nginx ref", "sw/docker", "sw/nginx",
          "p99 sw", "p99 docker", "p99 nginx", "errors sw", "errors docker"]
rows = []
for r in rate_rows:
    name = TESTS.get(r["test"], r["test"])
    def cell(s):
        if not s:
            return "-"
        return f_rps(s) + (" (%s MB/s)" % f_mbs(s) if r["test"] == "blob-get-1m" else "")
    err = lambda s: "%d/%d" % (s[2], s[3]) if s else "-"
    rows.append([name, r["shape"], cell(r["sw"]), cell(r["dr"]), cell(r["ng"]), f_ratio_x(r["sw_dr"]),
                 f_ratio(r["sw_ng"]), f_p99(r["sw"]), f_p99(r["dr"]), f_p99(r["ng"]), err(r["sw"]), err(r["dr"])])
print(table(header, rows))
print("  nginx ref: GET/HEAD of a static 1 KiB file for the manifest tests, GET of the same 1 MiB file for the blob GET.")
print("  GET tests use wrk; HEAD tests use bench/httpload.c (wrk 4.1 hangs on HEAD responses).")

print()
print("Big transfers, %s blob, GB/s = 10^9 bytes/s: median (min–max) of %s run(s)" % (big_label, env["BIG_RUNS"]))
header = ["transfer", "swregistry", "docker-registry", "reference", "sw/docker", "sw/ref"]
rows = []
for kind, name in BIG_KINDS:
    sw, dr, ng = gbs(kind, "swregistry"), gbs(kind, "docker-registry"), gbs(kind, REF_PEER[kind])
    rows.append([name, f_gbs_range(sw), f_gbs_range(dr), f_gbs_range(ng),
                 f_ratio(ratio(sw and sw[0], dr and dr[0])), f_ratio(ratio(sw and sw[0], ng and ng[0]))])
print(table(header, rows))
print("  reference: GET = nginx serving the same file; uploads = bench/upload_sink.c, which discards the body"
      " (one POST with it: the ceiling of curl + loopback).")
if env.get("SINGLE_POST_DR") == "0":
    print("  docker-registry ignores the body of POST ?digest= (202): its monolithic upload is POST + PUT ?digest= with the body.")
sha_s = float(env.get("SHA_SECONDS") or 0)
ceilings = []
if sha_s > 0:
    ceilings.append("sha256 (Python hashlib, one core) %.2f GB/s" % (int(big_mib) * MIB / sha_s / 1e9))
if env.get("DISK_SECONDS"):
    ceilings.append("dd %s MiB conv=fsync %.2f GB/s" % (big_mib, int(big_mib) * MIB / float(env["DISK_SECONDS"]) / 1e9))
if ceilings:
    print("  Ceilings on this machine: " + "; ".join(ceilings) + ".")

print()
print("RSS during the %s transfers (VmRSS every 100 ms; growth = peak - RSS just before, worst run)" % big_label)
header = ["transfer", "swregistry before", "peak", "growth", "docker-registry before", "peak", "growth"]
rows = []
for phase, name in RSS_PHASES:
    cells = [name]
    for peer in ("swregistry", "docker-registry"):
        s = rss_stat(phase, peer)
        cells += ["%.1f MiB" % s[0], "%.1f MiB" % s[1], "%+.1f MiB" % s[2]] if s else ["-", "-", "-"]
    rows.append(cells)
print(table(header, rows))

def skopeo_cells(op, peer):
    """(wall clock cell, cell for the copy minus `skopeo inspect --raw`, those seconds)."""
    v = skopeo.get((peer, op))
    if not v:
        return "-", "-", None
    fixed = skopeo.get((peer, "inspect"), (0.0, 0))[0]
    net = v[0] - fixed
    if net <= 0.01:
        return "%.2f s" % v[0], "%.2f s" % net, None
    return "%.2f s" % v[0], "%.2f s (%.0f MB/s)" % (net, v[1] / net / 1e6), net


skopeo_bytes = max((v[1] for v in skopeo.values()), default=0)
skopeo_probe = [(p, skopeo[(p, "tlsprobe")][0]) for p in ("swregistry", "docker-registry") if (p, "tlsprobe") in skopeo]
skopeo_inspect = [(p, skopeo[(p, "inspect")][0]) for p in ("swregistry", "docker-registry") if (p, "inspect") in skopeo]
if skopeo:
    print()
    print("skopeo copy, %s layers x %s MiB (%.0f MB): wall clock, and minus a `skopeo inspect --raw` of the small image"
          % (env["SKOPEO_LAYERS"], env["SKOPEO_LAYER_MIB"], skopeo_bytes / 1e6))
    print("(start-up + https attempt + http fallback + one manifest GET: %s)"
          % ", ".join("%s %.2f s" % x for x in skopeo_inspect))
    header = ["operation", "swregistry", "minus inspect", "docker-registry", "minus inspect", "sw/docker (speed)"]
    rows = []
    for op in ("push", "pull"):
        sw, dr = skopeo_cells(op, "swregistry"), skopeo_cells(op, "docker-registry")
        rows.append([op, sw[0], sw[1], dr[0], dr[1], f_ratio(dr[2] / sw[2]) if sw[2] and dr[2] else "-"])
    print(table(header, rows))
    if skopeo_probe:
        print("  skopeo always tries https first (also with --tls-verify=false). A TLS handshake (curl -k https://) "
              "on the plain-HTTP port fails after: " + ", ".join("%s %.2f s" % x for x in skopeo_probe) + ".")

# --- Targets ---------------------------------------------------------------------------------
verdicts = []
mg = [r for r in rate_rows if r["test"] == "manifest-get"]
ng_ratios = [r["sw_ng"] for r in mg if r["sw_ng"] is not None]
dr_ratios = [r["sw_dr"] for r in mg if r["sw_dr"] is not None]
if ng_ratios:
    verdicts.append(("swregistry manifest GET >= 0.8x nginx 1 KiB GET (every shape)",
                     "%.2fx (worst)" % min(ng_ratios), min(ng_ratios) >= 0.8))
if dr_ratios:
    verdicts.append(("swregistry manifest GET >= 25x docker-registry (every shape)",
                     "%.1fx (worst)" % min(dr_ratios), min(dr_ratios) >= 25))
sw, ng = gbs("get", "swregistry"), gbs("get", "nginx")
if sw and ng:
    r = sw[0] / ng[0]
    verdicts.append(("swregistry %s GET >= 0.9x nginx" % big_label, "%.2fx (%.2f vs %.2f GB/s)" % (r, sw[0], ng[0]), r >= 0.9))
for kind, name in BIG_KINDS[1:]:
    v, ref = gbs(kind, "swregistry"), gbs(kind, "sink")
    if v:
        verdicts.append(("swregistry %s %s >= 1.5 GB/s" % (big_label, name),
                         "%.2f GB/s%s" % (v[0], " (discard sink: %.2f GB/s)" % ref[0] if ref else ""), v[0] >= 1.5))
growths = [rss_stat(p, "swregistry") for p, _ in RSS_PHASES]
growths = [g for g in growths if g]
if growths:
    worst = max(g[2] for g in growths)
    verdicts.append(("swregistry RSS flat during %s transfers (growth < 64 MiB)" % big_label,
                     "%+.1f MiB worst, peak %.1f MiB" % (worst, max(g[1] for g in growths)), worst < 64))
sw_exit = env.get("SW_EXIT", "")
if sw_exit:
    verdicts.append(("swregistry exits 0 on SIGTERM", "exit status %s" % sw_exit, sw_exit == "0"))
print()
print("Targets")
for name, value, ok in verdicts:
    print("  %-4s %s: %s" % ("PASS" if ok else "FAIL", name, value))

# --- Markdown --------------------------------------------------------------------------------
md = []
md.append("### Registry: swregistry vs docker-registry — %s" % env["DATE"])
md.append("")
md.append("- Command: `%s`" % env["COMMAND"])
md.append("- Machine: nproc=%s, %s, %s RAM, %s, Linux %s, data on %s; load average at start %s"
          % (env["NPROC"], env["CPU_MODEL"] or "unknown CPU", env["MEM_TOTAL"], env["OS_NAME"], env["KERNEL"],
             env["FS_INFO"], env["LOAD_AT_START"]))
md.append("- swregistry %s: `serve --threads %s --log-level warning`%s"
          % (env["SW_VERSION"], env["THREADS"], ("; built with " + env["SWIFT_VERSION"]) if env.get("SWIFT_VERSION") else ""))
md.append("- docker-registry %s (Debian package): filesystem storage, `blobdescriptor: inmemory` cache, "
          "log level error, access log off, no auth" % env["DR_VERSION"])
md.append("- nginx %s: worker_processes %s, access_log off, sendfile, open_file_cache (reference)"
          % (env["NGINX_VERSION"], env["THREADS"]))
md.append("- Load: %s for GET (Lua script sets `Accept: application/vnd.oci.image.manifest.v1+json`); "
          "`bench/httpload.c` for HEAD (wrk 4.1 hangs on HEAD responses); %s for the big transfers%s. "
          "%ss per run after a %ss warm-up, %s round(s) (median), order rotating; no CPU pinning; all on 127.0.0.1"
          % (env["WRK_VERSION"], env["CURL_VERSION"], (", " + env["SKOPEO_VERSION"]) if env.get("SKOPEO_VERSION") else "",
             env["DURATION"], env["WARMUP"], env["ROUNDS"]))
md.append("- Data: one OCI image (config + 4 layers: 1 MiB, 64 KiB, 16 KiB, 4 KiB; manifest %s bytes) pushed to both "
          "with curl; the manifest is fetched by tag" % env["MANIFEST_SIZE"])
md.append("")
md.append("| request | shape | swregistry req/s | docker-registry req/s | nginx req/s | sw/docker | sw/nginx | p99 sw | p99 docker |")
md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rate_rows:
    name = TESTS.get(r["test"], r["test"])
    ref = REFERENCE.get(r["test"])
    def cell(s):
        if not s:
            return "-"
        return f_rps(s) + (" (%s MB/s)" % f_mbs(s) if r["test"] == "blob-get-1m" else "")
    md.append("| %s | `%s` | %s | %s | %s | %s | %s | %s ms | %s ms |"
              % (name, r["shape"], cell(r["sw"]), cell(r["dr"]),
                 (cell(r["ng"]) + " (%s)" % ref) if r["ng"] and ref else "-",
                 f_ratio_x(r["sw_dr"]), f_ratio(r["sw_ng"]), f_p99(r["sw"]), f_p99(r["dr"])))
errs = [r for r in rate_rows if any(s and (s[2] or s[3]) for s in (r["sw"], r["dr"], r["ng"]))]
for r in errs:
    md.append("")
    md.append("Errors in %s `%s` (socket errors/non-2xx): %s." % (TESTS.get(r["test"], r["test"]), r["shape"], ", ".join(
        "%s %d/%d" % (p, s[2], s[3]) for p, s in zip(PEERS, (r["sw"], r["dr"], r["ng"])) if s)))
md.append("")
md.append("| %s blob, GB/s (median of %s; min–max) | swregistry | docker-registry | reference | sw/docker | sw/ref |"
          % (big_label, env["BIG_RUNS"]))
md.append("|---|---:|---:|---:|---:|---:|")
for kind, name in BIG_KINDS:
    sw, dr, ng = gbs(kind, "swregistry"), gbs(kind, "docker-registry"), gbs(kind, REF_PEER[kind])
    md.append("| %s | %s | %s | %s | %s | %s |" % (name, f_gbs_range(sw), f_gbs_range(dr), f_gbs_range(ng),
                                                 f_ratio(ratio(sw and sw[0], dr and dr[0])),
                                                 f_ratio(ratio(sw and sw[0], ng and ng[0]))))
notes = ["reference: for GET, nginx serving the same file; for uploads, `bench/upload_sink.c`, which reads and "
         "discards the body (one POST with it), i.e. the ceiling of curl and loopback TCP"]
if env.get("SINGLE_POST_DR") == "0":
    notes.append("docker-registry 2.8 ignores the body of `POST ?digest=` (answers 202), so its monolithic upload is "
                 "POST + `PUT ?digest=` with the body; swregistry's is the single `POST ?digest=`")
notes.append("upload time = sum of curl's `time_total` over the requests; the blob's content is deleted from the "
             "registry's storage and `sync` run before each upload")
if ceilings:
    notes.append("ceilings: " + "; ".join(ceilings))
md.append("")
md.append("Notes: " + "; ".join(notes) + ".")
md.append("")
md.append("| RSS during %s transfers (every 100 ms): before the first run → peak of all runs (worst growth in one run) "
          "| swregistry | docker-registry |" % big_label)
md.append("|---|---:|---:|")
for phase, name in RSS_PHASES:
    cells = []
    for peer in ("swregistry", "docker-registry"):
        s = rss_stat(phase, peer)
        cells.append("%.1f → %.1f MiB (%+.1f)" % (s[0], s[1], s[2]) if s else "-")
    md.append("| %s | %s | %s |" % (name, cells[0], cells[1]))
if skopeo:
    md.append("")
    md.append("| skopeo copy, %s layers × %s MiB (%.0f MB) | swregistry | docker-registry |"
              % (env["SKOPEO_LAYERS"], env["SKOPEO_LAYER_MIB"], skopeo_bytes / 1e6))
    md.append("|---|---:|---:|")
    for op in ("push", "pull"):
        sw, dr = skopeo_cells(op, "swregistry"), skopeo_cells(op, "docker-registry")
        md.append("| %s, wall clock | %s | %s |" % (op, sw[0], dr[0]))
        md.append("| %s, minus `skopeo inspect --raw` | %s | %s |" % (op, sw[1], dr[1]))
    insp = dict(skopeo_inspect)
    md.append("| `skopeo inspect --raw` (start-up, https attempt, http fallback, one manifest GET) | %s | %s |"
              % tuple("%.2f s" % insp[p] if p in insp else "-" for p in ("swregistry", "docker-registry")))
    if skopeo_probe:
        md.append("")
        md.append("skopeo always tries https first (also with `--tls-verify=false`) and then falls back to http. A TLS "
                  "handshake (`curl -k https://`) on the plain-HTTP port fails after: " +
                  ", ".join("%s %.2f s" % x for x in skopeo_probe) + ".")
md.append("")
md.append("Targets: " + "; ".join("%s — %s (%s)" % (name, value, "pass" if ok else "FAIL")
                                   for name, value, ok in verdicts) + ".")
print()
print("----- Markdown (for BENCHMARKS.md) -----")
print("\n".join(md))
