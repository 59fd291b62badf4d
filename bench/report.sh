#!/usr/bin/env bash
# bench/report.sh [--json] RAW.tsv: summarise a bench/run.sh raw TSV as Markdown (or JSON).
#
# For each (tool, step), "wall s" is the best (lowest) wall time over the runs, "median" the
# median wall time; MiB/s, CPU and peak RSS are those of the best run. The repository size is
# the mean over the runs (restic and borg pick a random chunker parameter per repository, so
# their sizes vary a little between runs). Ratios are against restic's best run of the step:
#   time x = tool wall / restic wall        (< 1 means faster than restic)
#   repo x = tool repo size / restic repo size   (< 1 means smaller)
# The Markdown ends with drrepo's targets (from the issue), each marked MET or MISSED.
set -euo pipefail
json=0
if [ "${1:-}" = --json ]; then json=1; shift; fi
[ $# -eq 1 ] || { echo "usage: report.sh [--json] RAW.tsv" >&2; exit 2; }

awk -F'\t' -v json="$json" '
function median(k,   m, i, j, t, a) {
    m = n[k]
    for (i = 1; i <= m; i++) a[i] = walls[k, i] + 0
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function mibs(bytes, secs) { return (bytes > 0 && secs > 0) ? bytes / 1048576 / secs : 0 }
NR == 1 { next }
$4 == "FAIL" { next }
$3 == "stats-unique" { uniq[$1] += $8; nuniq[$1]++; next }
{
    k = $1 SUBSEP $3
    if (!(k in best) || $4 + 0 < best[k] + 0) {
        best[k] = $4; user[k] = $5; sys[k] = $6; rss[k] = $7; inb[k] = $8
    }
    if (!(k in worst) || $4 + 0 > worst[k] + 0) worst[k] = $4
    n[k]++
    walls[k, n[k]] = $4
    reposum[k] += $9
    if (!(k in repomin) || $9 + 0 < repomin[k] + 0) repomin[k] = $9
    if (!(k in repomax) || $9 + 0 > repomax[k] + 0) repomax[k] = $9
    repo[k] = reposum[k] / n[k]
    if (!($1 in seen_tool)) { seen_tool[$1] = 1; tools[++nt] = $1 }
}
END {
    nsteps = split("init snap-day1 snap-unchanged snap-day2 restore dump dump-bin check snap-cold stdin", steps, " ")
    desc["init"] = "init (create repository)"
    desc["snap-day1"] = "snapshot day 1 (initial, into an empty repository)"
    desc["snap-unchanged"] = "snapshot day 1 again (nothing changed)"
    desc["snap-day2"] = "snapshot day 2 (incremental)"
    desc["restore"] = "restore latest (day 2) into an empty directory"
    desc["dump"] = "restore one ~200 MB SQL dump file to /dev/null (dump / borg extract --stdout)"
    desc["dump-bin"] = "restore the ~200 MB random (incompressible) file to /dev/null"
    desc["check"] = "check --read-data (borg: check --verify-data); MiB/s = repository bytes / wall"
    desc["snap-cold"] = "snapshot day 2 again with the local cache deleted (nothing changed)"
    desc["stdin"] = "~200 MB SQL dump via stdin into a fresh repository"
    if (json) printf "[\n"
    first = 1
    for (si = 1; si <= nsteps; si++) {
        s = steps[si]
        have = 0
        for (ti = 1; ti <= nt; ti++) if ((tools[ti] SUBSEP s) in best) have = 1
        if (!have) continue
        rk = "restic" SUBSEP s
        if (!json) {
            printf "\n### %s\n\n", desc[s]
            printf "| tool | wall s (best) | median | MiB/s | CPU s (user+sys) | peak RSS MiB | repo MiB | time x restic | repo x restic |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        }
        for (ti = 1; ti <= nt; ti++) {
            t = tools[ti]; k = t SUBSEP s
            if (!(k in best)) continue
            w = best[k] + 0
            med = median(k)
            mbs = (inb[k] > 0) ? ((w > 0) ? sprintf("%.1f", mibs(inb[k], w)) : ">" sprintf("%.0f", mibs(inb[k], 0.01))) : "-"
            cpu = user[k] + sys[k]
            tr = (rk in best && best[rk] > 0) ? sprintf("%.2f", w / best[rk]) : "-"
            rr = (rk in repo && repo[rk] > 0) ? sprintf("%.2f", repo[k] / repo[rk]) : "-"
            if (json) {
                printf "%s  {\"tool\": \"%s\", \"step\": \"%s\", \"runs\": %d, \"wall_s\": %s, \"wall_median_s\": %s, \"wall_max_s\": %s, \"user_s\": %s, \"sys_s\": %s, \"maxrss_kb\": %s, \"input_bytes\": %s, \"repo_bytes\": %.0f, \"repo_bytes_min\": %s, \"repo_bytes_max\": %s, \"mib_per_s\": %s, \"time_ratio_vs_restic\": %s, \"repo_ratio_vs_restic\": %s}", \
                    first ? "" : ",\n", t, s, n[k], best[k], med, worst[k], user[k], sys[k], rss[k], inb[k], repo[k], repomin[k], repomax[k], \
                    (mbs ~ /^[0-9.]+$/) ? mbs : "null", (tr == "-") ? "null" : tr, (rr == "-") ? "null" : rr
                first = 0
            } else {
                printf "| %s | %.2f | %.2f | %s | %.2f | %.0f | %.1f | %s | %s |\n", t, w, med, mbs, cpu, \
                    rss[k] / 1024, repo[k] / 1048576, tr, rr
            }
        }
    }
    if (json) { printf "\n]\n"; exit }

    # ---- the issue targets ----
    D = "drrepo"; R = "restic"
    if (!((D SUBSEP "snap-day1") in best) || !((R SUBSEP "snap-day1") in best)) exit
    printf "\n### drrepo targets\n\n| target | drrepo | reference | result |\n|---|---:|---:|---|\n"
    d = best[D SUBSEP "snap-day1"]; r = best[R SUBSEP "snap-day1"]
    printf "| initial snapshot throughput >= restic | %.1f MiB/s | restic %.1f MiB/s | %s (%.2fx) |\n", \
        mibs(inb[D SUBSEP "snap-day1"], d), mibs(inb[R SUBSEP "snap-day1"], r), (d <= r) ? "MET" : "MISSED", r / d
    d = best[D SUBSEP "snap-unchanged"]; r = best[R SUBSEP "snap-unchanged"]
    printf "| unchanged re-snapshot >= 3x faster than restic | %.2f s | restic %.2f s | %s (%.1fx faster) |\n", \
        d, r, (d > 0 && r / d >= 3) ? "MET" : "MISSED", (d > 0) ? r / d : 0
    split("snap-day1 snap-day2 stdin", rs, " ")
    for (i = 1; i <= 3; i++) {
        dk = D SUBSEP rs[i]; rkk = R SUBSEP rs[i]
        if (!(dk in repo) || !(rkk in repo)) continue
        printf "| repository size <= restic (after %s) | %.1f MiB | restic %.1f MiB | %s (%.3fx) |\n", \
            rs[i], repo[dk] / 1048576, repo[rkk] / 1048576, (repo[dk] <= repo[rkk]) ? "MET" : "MISSED", repo[dk] / repo[rkk]
    }
    ck = D SUBSEP "check"
    if ((ck in best) && (D in uniq)) {
        u = uniq[D] / nuniq[D]
        c = mibs(u, best[ck])
        for (i = 1; i <= 2; i++) {
            dstep = (i == 1) ? "dump" : "dump-bin"
            dk = D SUBSEP dstep
            if (!(dk in best)) continue
            dm = mibs(inb[dk], best[dk])
            printf "| check --read-data throughput >= restore to /dev/null (%s) | %.1f MiB/s plaintext (%.0f MiB unique data in %.2f s) | %s %.1f MiB/s | %s (%.2fx) |\n", \
                (i == 1) ? "SQL dump file, as specified" : "random file", c, u / 1048576, best[ck], dstep, dm, (c >= dm) ? "MET" : "MISSED", c / dm
        }
    }
}' "$1"
