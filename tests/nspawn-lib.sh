# shellcheck shell=bash disable=SC2034 # t_* and others are read by the sourcing script
# nspawn-lib.sh: the host half shared by the tests that boot a real systemd in a container
# (tests/unit-nspawn.sh, tests/deb-nspawn.sh). Sourced, not run. Boots systemd as PID 1 of a
# systemd-nspawn container over a Debian bookworm rootfs; adapted from
# shared/recipes/nspawn-boot.sh.
#
#   nspawn_init NAME          root check, tools (installed when missing), traps; NAME names the
#                             cgroup and the work directory. Exit 77 ("SKIP: WHY") when this
#                             machine cannot boot a container at all.
#   nspawn_rootfs             the cached rootfs ($rootfs), created once (exit 77 when the first
#                             debootstrap cannot reach the mirror)
#   nspawn_libbinds BIN...    libraries of BIN the rootfs lacks (the ASan runtime of
#                             `make check-asan`): bound in read-only from the host
#   nspawn_stage SRC DST      SRC (any host path, /tmp included) is copied into the container's
#                             private staging tmpfs at boot and bound read-only at DST
#   nspawn_boot [ARG...]      boots (ARGs go to systemd-nspawn), waits for is-system-running;
#                             prints "ok boot: STATE" or "not ok boot" (and exits 1); sets CPID
#                             and cin=(nsenter ... --) to run commands inside
#   nspawn_finish             powers off, removes the cgroups, prints "ok cleanup" or
#                             "not ok cleanup" (returns 1)
# Timings (bash SECONDS): t_start (at nspawn_init), t_rootfs, t_boot.
#
# Nothing persists on the host and the host's systemd, journal and /tmp are never used:
#   - rootfs: debootstrapped once (1-4 minutes) into /var/cache/permwatch-test/rootfs-v3
#     (PERMWATCH_NSPAWN_ROOTFS), also cached as rootfs-v3.tar.zst; creation is serialized by
#     flock and lands by rename, so concurrent runs share it. The container sees it through
#     --volatile=overlay (writes go to a tmpfs). v2: libjansson4 added to the recipe's v1;
#     v3: libbsd0 added (everything the permwatch package Depends on, so that `dpkg -i` works
#     without network).
#   - nspawn runs in a private mount namespace with tmpfs over /run/systemd and /tmp (its
#     --volatile template dir), --register=no --keep-unit (no machined, no host unit),
#     --link-journal=no, --private-network, in a private cgroup subtree removed at exit.
#   - exit, error or SIGTERM/SIGINT: the container is powered off (SIGKILL to its init after
#     10 s), the cgroups and the work directory are removed. Only pids started here are
#     signalled. Every wait is bounded.
#
# NEVER boot /lib/systemd/systemd --system against the host root: it runs the host's units
# and wipes /tmp. Only through systemd-nspawn, as here.

nspawn_lib_dir=$(dirname "$(realpath -e "${BASH_SOURCE[0]}")")
cache_dir=/var/cache/permwatch-test
rootfs=${PERMWATCH_NSPAWN_ROOTFS:-$cache_dir/rootfs-v3}
tarball=$rootfs.tar.zst
include=systemd,libsystemd0,libev4,libinih1,libacl1,libjansson4,libbsd0,procps
mirror=http://deb.debian.org/debian
nspawn_name=nspawn
work=""
new_rootfs=""
NSPID=""
CPID=""
cin=()
cg_dirs=()
libbinds=()
stage_src=()
stage_dst=()

skip() {
    echo "SKIP: $*"
    exit 77
}

nspawn_init() {
    nspawn_name=$1
    t_start=$SECONDS
    [ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, cgroups, mount namespaces)"
    # the tools (also in the Makefile's DEPS_TEST): installed when missing
    local need=() p out
    for p in systemd-nspawn:systemd-container debootstrap:debootstrap zstd:zstd unshare:util-linux; do
        command -v "${p%%:*}" >/dev/null || need+=("${p##*:}")
    done
    if [ ${#need[@]} -gt 0 ]; then
        if ! out=$(timeout 300 sh "$nspawn_lib_dir/install-deps.sh" "${need[@]}" 2>&1); then
            printf '%s\n' "$out" | tail -n 5 | sed 's/^/# /'
            skip "cannot install ${need[*]} (apt-get failed: no network to the Debian mirror?)"
        fi
    fi
    trap nspawn_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    trap 'exit 129' HUP
}

nspawn_kill_container() { # power off, SIGKILL the container's init after 10 s; only our pids
    if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
        kill -TERM "$NSPID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$NSPID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$NSPID" 2>/dev/null; then
            echo "# container did not power off within 10 s: SIGKILL" >&2
            [ -z "$CPID" ] || kill -KILL "$CPID" 2>/dev/null || true
            kill -KILL "$NSPID" 2>/dev/null || true
        fi
        wait "$NSPID" 2>/dev/null || true
    fi
    NSPID=""
}

nspawn_remove_cgroups() { # depth first; processes left (none expected) are ours: SIGKILL them
    local d p
    for d in ${cg_dirs[@]+"${cg_dirs[@]}"}; do
        [ -d "$d" ] || continue
        for _ in $(seq 1 50); do
            find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
            [ -d "$d" ] || break
            find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null |
                while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
            sleep 0.1
        done
        [ ! -d "$d" ] || echo "# could not remove $d" >&2
    done
}

nspawn_cleanup() {
    set +e
    nspawn_kill_container
    nspawn_remove_cgroups
    [ -z "$new_rootfs" ] || rm -rf --one-file-system -- "$new_rootfs" "$tarball.new.$$"
    [ -z "$work" ] || rm -rf -- "$work"
}

nspawn_rootfs() {
    mkdir -p "$cache_dir"
    exec 9>"$rootfs.lock"
    flock -w 600 9 || {
        echo "not ok rootfs: $rootfs.lock held for 10 minutes"
        exit 1
    }
    if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
        new_rootfs=$rootfs.new.$$
        mkdir -p "$new_rootfs"
        if [ -f "$tarball" ]; then
            zstd -q -dc "$tarball" | tar --numeric-owner --xattrs --acls -C "$new_rootfs" -xf -
        else
            echo "# debootstrap bookworm into $rootfs (once; about a minute)" >&2
            local log=$new_rootfs.debootstrap.log
            # private mount namespace: the /proc and /sys it mounts in the target never leak
            if ! timeout 420 unshare --mount --propagation private -- debootstrap \
                --variant=minbase --include="$include" bookworm "$new_rootfs" "$mirror" \
                >"$log" 2>&1; then
                tail -n 8 "$log" | sed 's/^/# /'
                if grep -qiE 'Failed getting release|Couldn.t download|Temporary failure resolving|unable to connect|Could not resolve|Connection (refused|timed out)' \
                    "$log" "$new_rootfs/debootstrap/debootstrap.log" 2>/dev/null; then
                    rm -f "$log"
                    skip "debootstrap cannot reach $mirror (no network for the first run)"
                fi
                rm -f "$log"
                echo "not ok rootfs: debootstrap failed"
                exit 1
            fi
            rm -f "$log"
            echo permwatch-test >"$new_rootfs/etc/hostname"
            tar --numeric-owner --xattrs --acls -C "$new_rootfs" -cf - . |
                zstd -q -T0 -3 -o "$tarball.new.$$"
            mv -f "$tarball.new.$$" "$tarball"
        fi
        [ -x "$new_rootfs/lib/systemd/systemd" ] || {
            echo "not ok rootfs: no /lib/systemd/systemd in it"
            exit 1
        }
        rm -rf --one-file-system -- "$rootfs"
        mv "$new_rootfs" "$rootfs"
        new_rootfs=""
    fi
    flock -u 9
    exec 9>&-
    t_rootfs=$SECONDS
}

nspawn_libbinds() {
    local bin lib
    for bin in "$@"; do
        while read -r lib; do
            if [ ! -e "$rootfs$lib" ]; then
                echo "# binding $lib from the host (not in the rootfs)" >&2
                libbinds+=(--bind-ro="$lib:$lib")
            fi
        done < <(ldd "$bin" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')
    done
}

nspawn_stage() {
    stage_src+=("$(realpath -e "$1")")
    stage_dst+=("$2")
}

nspawn_boot() {
    # a private cgroup subtree
    local cg=permwatch-$nspawn_name-$$ h
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        cg_dirs=("/sys/fs/cgroup/$cg")
    else
        for h in systemd unified; do
            [ ! -d "/sys/fs/cgroup/$h" ] || cg_dirs+=("/sys/fs/cgroup/$h/$cg")
        done
    fi
    [ ${#cg_dirs[@]} -gt 0 ] ||
        skip "no name=systemd or unified cgroup hierarchy under /sys/fs/cgroup"
    mkdir "${cg_dirs[@]}"

    work=$(mktemp -d "/tmp/permwatch-$nspawn_name-XXXXXX")
    local console=$work/console.log i
    # In a private mount namespace, the host's /run/systemd and /tmp are hidden behind tmpfs
    # (nspawn keeps state in the one and makes its --volatile=overlay template directory in
    # the other). The staged files are copied into the private /run/systemd first, so that
    # they may live anywhere, /tmp included.
    local stage_args=()
    for i in "${!stage_src[@]}"; do stage_args+=("${stage_src[$i]}" "${stage_dst[$i]}"); done
    unshare --mount --propagation private -- bash -c '
        set -e
        cg=$1 rootfs=$2 nstage=$3
        shift 3
        for d in $cg; do echo $$ >"$d/cgroup.procs"; done
        mount -t tmpfs -o mode=0755 tmpfs /run/systemd
        stage=/run/systemd/permwatch-test
        mkdir "$stage"
        binds=()
        for ((i = 0; i < nstage; i++)); do
            cp "$1" "$stage/$i"
            binds+=(--bind-ro="$stage/$i:$2")
            shift 2
        done
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        exec systemd-nspawn -q -D "$rootfs" --register=no --keep-unit --private-network \
            --link-journal=no --volatile=overlay --console=read-only --machine=permwatch-test \
            --resolv-conf=off --timezone=off ${binds[@]+"${binds[@]}"} "$@" --boot
    ' nspawn-lib "${cg_dirs[*]}" "$rootfs" "${#stage_src[@]}" \
        ${stage_args[@]+"${stage_args[@]}"} ${libbinds[@]+"${libbinds[@]}"} "$@" \
        </dev/null >"$console" 2>&1 &
    NSPID=$!
    for _ in $(seq 1 200); do
        CPID=$(pgrep -P "$NSPID" -x systemd || true)
        [ -n "$CPID" ] && break
        kill -0 "$NSPID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$CPID" ]; then
        echo "not ok boot: the container's init did not start; console:"
        sed 's/^/# /' "$console"
        exit 1
    fi
    cin=(nsenter --target "$CPID" --mount --uts --ipc --net --pid --)
    for _ in $(seq 1 300); do
        timeout 5 "${cin[@]}" test -S /run/systemd/private 2>/dev/null && break
        sleep 0.05
    done
    local boot_state
    boot_state=$(timeout 60 "${cin[@]}" systemctl is-system-running --wait 2>&1 || true)
    t_boot=$SECONDS
    case $boot_state in
    running | degraded) echo "ok boot: $boot_state" ;;
    *)
        echo "not ok boot: is-system-running says '$boot_state'; console:"
        sed 's/^/# /' "$console"
        exit 1
        ;;
    esac
}

nspawn_finish() {
    nspawn_kill_container
    nspawn_remove_cgroups
    local left="" d
    for d in "${cg_dirs[@]}"; do [ ! -d "$d" ] || left="$left $d"; done
    if [ -z "$left" ]; then
        echo "ok cleanup"
    else
        echo "not ok cleanup: left$left"
        return 1
    fi
}
