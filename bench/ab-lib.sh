# bench/ab-lib.sh: what the A/B benches that time several drrepo binaries side by side share
# (snapshot-cpu.sh, pg-restore.sh): their options and the median of their runs. Sourced.

# ab_opts NAME USAGE_END "$@": parses -s SCALE, -n REPS and -w DIR into SCALE, REPS and AB_DIR
# (the caller sets their defaults first) and leaves the binaries named after the options in
# AB_BINS. A bad option prints the script's usage (lines 2 to USAGE_END of it) and exits 2; no
# binary exits 2, no /usr/bin/time (package time) exits 1.
ab_opts() {
    local name=$1 end=$2 o OPTIND=1
    shift 2
    while getopts s:n:w:h o; do
        case $o in
            s) SCALE=$OPTARG ;;
            n) REPS=$OPTARG ;;
            w) AB_DIR=$OPTARG ;;
            *) sed -n "2,${end}p" "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    [ $# -ge 1 ] || { echo "$name: name at least one drrepo binary" >&2; exit 2; }
    [ -x /usr/bin/time ] || { echo "$name: needs /usr/bin/time (package time)" >&2; exit 1; }
    AB_BINS=("$@")
}

# median: the median of the numbers on standard input (separated by spaces or newlines)
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
