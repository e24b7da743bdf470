# Helpers shared by bench/http.sh and bench/registry.sh (sourced, not run).

log() { printf '[bench] %s\n' "$*" >&2; }

die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# "10", "10s", "2m" -> seconds.
to_seconds() {
    local v=$1
    case $v in
        *m) v=${v%m}; [[ $v =~ ^[0-9]+$ ]] || return 1; echo $((v * 60)) ;;
        *s) v=${v%s}; [[ $v =~ ^[0-9]+$ ]] || return 1; echo "$v" ;;
        *)  [[ $v =~ ^[0-9]+$ ]] || return 1; echo "$v" ;;
    esac
}

stop_pid() {
    local pid=$1 sig=$2 grace=$3 i state
    STOP_RC=0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || state=""
        [[ -z $state || $state == Z ]] && break
        sleep 0.1
    done
    if [[ -n $state && $state != Z ]]; then
        log "warning: pid $pid still running ${grace}s after SIG$sig; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

# Converts wrk's "123.45us" / "1.23ms" / "1.02s" / "2.00m" to milliseconds.
parse_wrk() { # file -> "rps p99_ms socket_errors non2xx"
    awk '
        function ms(v,   n) {
            n = v + 0
            if (v ~ /us$/) return n / 1000
            if (v ~ /ms$/) return n
            if (v ~ /m$/)  return n * 60000
            if (v ~ /s$/)  return n * 1000
            return n
        }
        /^Requests\/sec:/           { rps = $2 }
        $1 == "99%"                 { p99 = ms($2) }
        /Socket errors:/            { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "%s %.3f %d %d\n", rps, p99, errs, non2xx
        }' "$1"
}
