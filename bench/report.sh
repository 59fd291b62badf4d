#!/usr/bin/env bash
# bench/report.sh [--json] RAW.tsv: summarise a bench/run.sh raw TSV.
#
# For each (tool, step) the run with the lowest wall time is reported ("best of N"; the
# spread is shown as max/min); the repository size is the mean over the runs (borg picks a
# random chunker seed per repository, so its sizes vary a little between runs). Ratios are against restic's best run of the same step:
#   time x = tool wall / restic wall   (< 1 means faster than restic)
#   repo x = tool repo size / restic repo size   (< 1 means smaller)
set -euo pipefail
json=0
if [ "${1:-}" = --json ]; then json=1; shift; fi
[ $# -eq 1 ] || { echo "usage: report.sh [--json] RAW.tsv" >&2; exit 2; }

awk -F'\t' -v json="$json" '
NR == 1 { next }
$4 == "FAIL" { next }
{
    k = $1 SUBSEP $3
    if (!(k in best) || $4 + 0 < best[k] + 0) {
        best[k] = $4; user[k] = $5; sys[k] = $6; rss[k] = $7; inb[k] = $8
    }
    reposum[k] += $9
    if (!(k in repomin) || $9 + 0 < repomin[k] + 0) repomin[k] = $9
    if (!(k in repomax) || $9 + 0 > repomax[k] + 0) repomax[k] = $9
    if (!(k in worst) || $4 + 0 > worst[k] + 0) worst[k] = $4
    n[k]++
    repo[k] = reposum[k] / n[k]
    if (!($1 in seen_tool)) { seen_tool[$1] = 1; tools[++nt] = $1 }
}
END {
    nsteps = split("init snap-day1 snap-unchanged snap-day2 restore dump check stdin", steps, " ")
    desc["init"] = "init (create repository)"
    desc["snap-day1"] = "snapshot day 1 (initial, empty repository)"
    desc["snap-unchanged"] = "snapshot day 1 again (nothing changed)"
    desc["snap-day2"] = "snapshot day 2 (incremental)"
    desc["restore"] = "restore latest (day 2) to an empty directory"
    desc["dump"] = "one 200 MB dump file to /dev/null (dump / extract --stdout)"
    desc["check"] = "check --read-data (borg: check --verify-data); MiB/s of repository bytes"
    desc["stdin"] = "200 MB SQL dump via stdin into a fresh repository"
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
            printf "| tool | wall s (best) | max/min | MiB/s | CPU s (user+sys) | peak RSS MiB | repo MiB | time x restic | repo x restic |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        }
        for (ti = 1; ti <= nt; ti++) {
            t = tools[ti]; k = t SUBSEP s
            if (!(k in best)) continue
            w = best[k] + 0
            mbs = (inb[k] > 0 && w > 0) ? sprintf("%.1f", inb[k] / 1048576 / w) : "-"
            if (inb[k] > 0 && w == 0) mbs = ">" sprintf("%.0f", inb[k] / 1048576 / 0.01)
            cpu = user[k] + sys[k]
            tr = (rk in best && best[rk] > 0) ? sprintf("%.2f", w / best[rk]) : "-"
            rr = (rk in repo && repo[rk] > 0) ? sprintf("%.2f", repo[k] / repo[rk]) : "-"
            spread = (w > 0) ? sprintf("%.2f", worst[k] / w) : "-"
            if (json) {
                printf "%s  {\"tool\": \"%s\", \"step\": \"%s\", \"runs\": %d, \"wall_s\": %s, \"wall_max_s\": %s, \"user_s\": %s, \"sys_s\": %s, \"maxrss_kb\": %s, \"input_bytes\": %s, \"repo_bytes\": %.0f, \"repo_bytes_min\": %s, \"repo_bytes_max\": %s, \"mib_per_s\": %s, \"time_ratio_vs_restic\": %s, \"repo_ratio_vs_restic\": %s}", \
                    first ? "" : ",\n", t, s, n[k], best[k], worst[k], user[k], sys[k], rss[k], inb[k], repo[k], repomin[k], repomax[k], \
                    (mbs ~ /^[0-9.]+$/) ? mbs : "null", (tr == "-") ? "null" : tr, (rr == "-") ? "null" : rr
                first = 0
            } else {
                printf "| %s | %.2f | %s | %s | %.2f | %.0f | %.1f | %s | %s |\n", t, w, spread, mbs, cpu, \
                    rss[k] / 1024, repo[k] / 1048576, tr, rr
            }
        }
    }
    if (json) printf "\n]\n"
}' "$1"
