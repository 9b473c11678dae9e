#!/usr/bin/env bash
# Starts (or stops) a real one-node Kubernetes for tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, and a kubelet on its own containerd.
#
#   scripts/kube.sh up     build what is missing, start what does not run; prints `export KUBECONFIG=...`
#   scripts/kube.sh down   stop what this script started (the data dir stays; `down --purge` removes it)
#   scripts/kube.sh env    print `export KUBECONFIG=...` without starting anything
#
# Use: eval "$(scripts/kube.sh up)"
#
# No image can be pulled here, so the node only runs images imported by this
# script: slipway.local/busybox:latest (Debian's static busybox, applets in
# /bin) and the pause image. Pods must say imagePullPolicy: Never (or
# IfNotPresent). There is no kube-proxy and no DNS: Services get no traffic.
#
# Kubernetes comes from source through the Go module proxy (k8s.io/kubernetes
# with its staging modules replaced by the published k8s.io/* v0.x.y); the
# binaries are cached in $cache/bin, so only the first `up` pays the build
# (see docs/dev/kubernetes-testing.md for the costs). Every API listens on
# loopback; the node's IP is the gateway of its own pod bridge, since a kubelet
# refuses a loopback node IP. Diagnostics go to stderr; stdout carries only
# the export line. Needs root.
#
# Environment overrides:
#   SLIPWAY_KUBE_VERSION     Kubernetes version to build    (v1.36.3)
#   SLIPWAY_KUBE_CACHE       sources, Go build cache, binaries, images (/var/cache/slipway-kube)
#   SLIPWAY_KUBE_ROOT        certificates, etcd, containerd, kubelet data, logs (/var/lib/slipway-kube)
#   SLIPWAY_KUBE_RUN         sockets and pid files          (/run/slipway-kube)
#   SLIPWAY_KUBE_API_PORT    kube-apiserver on 127.0.0.1    (16443)
#   SLIPWAY_KUBE_ETCD_PORT   etcd client port on 127.0.0.1; the peer port is the next one (12379)
#   SLIPWAY_KUBE_POD_CIDR, SLIPWAY_KUBE_SERVICE_CIDR, SLIPWAY_KUBE_BRIDGE
#                            pod network (10.231.0.0/24), service range (10.232.0.0/24), pod bridge (slipkube0)
set -euo pipefail

version=${SLIPWAY_KUBE_VERSION:-v1.36.3}
cache=${SLIPWAY_KUBE_CACHE:-/var/cache/slipway-kube}
root=${SLIPWAY_KUBE_ROOT:-/var/lib/slipway-kube}
run=${SLIPWAY_KUBE_RUN:-/run/slipway-kube}
api_port=${SLIPWAY_KUBE_API_PORT:-16443}
etcd_port=${SLIPWAY_KUBE_ETCD_PORT:-12379}
pod_cidr=${SLIPWAY_KUBE_POD_CIDR:-10.231.0.0/24}
service_cidr=${SLIPWAY_KUBE_SERVICE_CIDR:-10.232.0.0/24}
bridge=${SLIPWAY_KUBE_BRIDGE:-slipkube0}
node=slipway-node

bin=$cache/bin/$version
pki=$root/pki
logs=$root/logs
kubeconfig=$root/admin.kubeconfig
containerd_sock=$run/containerd.sock
# The node IP: the first address of the pod network, given to our bridge.
node_ip=$(echo "${pod_cidr%/*}" | awk -F. '{print $1"."$2"."$3"."$4+1}')
pause_image=slipway.local/pause:3.10
busybox_image=slipway.local/busybox:latest

log() { echo "kube.sh: $*" >&2; }

print_env() { echo "export KUBECONFIG=$kubeconfig"; }

install_packages() {
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v gcc >/dev/null || missing+=(gcc)
  dpkg -s libc6-dev >/dev/null 2>&1 || missing+=(libc6-dev) # libc.a for the static pause
  command -v curl >/dev/null || missing+=(curl)
  command -v busybox >/dev/null || missing+=(busybox-static)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v go >/dev/null || { log "go is needed to build Kubernetes"; exit 1; }
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# build_binaries compiles the four Kubernetes programs once per version.
build_binaries() {
  local progs=(kube-apiserver kube-controller-manager kube-scheduler kubelet) p missing=0
  for p in "${progs[@]}"; do [ -x "$bin/$p" ] || missing=1; done
  [ $missing -eq 0 ] && return
  local minor=${version#v}
  minor=${minor#*.}
  minor=${minor%%.*}
  local staging=v0.${version#v1.} src=$cache/src/$version
  log "building Kubernetes $version into $bin (first time only; log in $cache/build-$version.log)"
  if [ ! -f "$src/go.mod" ]; then
    local dir
    dir=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    rm -rf "$src" && mkdir -p "$(dirname "$src")"
    cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp"
    # The module zip lacks the staging tree and the vendor symlinks into it:
    # use the published staging modules of the same release instead.
    rm -rf "$src.tmp/go.work" "$src.tmp/go.work.sum" "$src.tmp/vendor"
    local replaces=() m
    for m in $(sed -n 's|^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$src.tmp/go.mod"); do
      replaces+=(-replace "$m=$m@$staging")
    done
    (cd "$src.tmp" && go mod edit "${replaces[@]}")
    mv "$src.tmp" "$src"
  fi
  local v=k8s.io/component-base/version
  local ld="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
  mkdir -p "$bin.tmp"
  (
    cd "$src"
    export GOFLAGS=-mod=mod GOCACHE=$cache/gocache CGO_ENABLED=0
    nice -n 19 go build -trimpath -ldflags "$ld" -o "$bin.tmp/" \
      ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubelet
  ) >>"$cache/build-$version.log" 2>&1 || {
    log "build failed; last lines of $cache/build-$version.log:"
    tail -n 20 "$cache/build-$version.log" >&2
    return 1
  }
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
}

# oci_image writes an OCI image archive of one uncompressed layer.
#   oci_image ARCHIVE REF ROOTFS_DIR ENTRYPOINT_JSON
oci_image() {
  local out=$1 ref=$2 rootfs=$3 entrypoint=$4
  local work
  work=$(mktemp -d)
  mkdir -p "$work/blobs/sha256"
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$work/layer.tar" .
  local layer layer_size
  layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  layer_size=$(stat -c %s "$work/layer.tar")
  mv "$work/layer.tar" "$work/blobs/sha256/$layer"
  blob() { # writes stdin as a blob and prints "digest size"
    cat >"$work/blob"
    local d
    d=$(sha256sum "$work/blob" | cut -d' ' -f1)
    mv "$work/blob" "$work/blobs/sha256/$d"
    echo "$d $(stat -c %s "$work/blobs/sha256/$d")"
  }
  local config manifest
  config=$(printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "$layer" | blob)
  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    ${config} "$layer" "$layer_size" | blob)
  set -- $manifest
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$1" "$2" "$ref" "${ref##*:}" >"$work/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
  tar -C "$work" -cf "$out" oci-layout index.json blobs
  rm -rf "$work"
}

# build_images makes the pause and busybox images (from Kubernetes' own
# pause.c and Debian's static busybox) as archives for `ctr images import`.
build_images() {
  local dir=$cache/images
  [ -f "$dir/pause.tar" ] && [ -f "$dir/busybox.tar" ] && return
  mkdir -p "$dir"
  local work
  work=$(mktemp -d)
  mkdir -p "$work/pause" "$work/busybox/bin"
  gcc -Os -static -o "$work/pause/pause" "$cache/src/$version/build/pause/linux/pause.c"
  oci_image "$dir/pause.tar" "$pause_image" "$work/pause" '["/pause"]'
  cp "$(command -v busybox)" "$work/busybox/bin/busybox"
  local applet
  for applet in $("$work/busybox/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/busybox/bin/$applet"
  done
  oci_image "$dir/busybox.tar" "$busybox_image" "$work/busybox" '["/bin/sh"]'
  rm -rf "$work"
}

# cert NAME CN [O] [SANS]: a key and a certificate signed by our CA.
cert() {
  local name=$1 cn=$2 org=${3:-} sans=${4:-}
  [ -f "$pki/$name.crt" ] && return
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
  [ -n "$sans" ] && ext="$ext
subjectAltName=$sans"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile <(echo "$ext") -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
}

# kubeconfig NAME: a kubeconfig file that logs in with the certificate NAME.
kubeconfig() {
  local name=$1 file=$root/$1.kubeconfig
  [ -f "$file" ] && return
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: slipway
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $name
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: slipway
  context: {cluster: slipway, user: $name}
current-context: slipway
EOF
}

make_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=slipway-kube-ca" \
      -days 3650 -out "$pki/ca.crt" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:$node_ip,IP:${service_cidr%.*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert admin slipway-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kubelet "system:node:$node" system:nodes "IP:127.0.0.1,IP:$node_ip,DNS:$node"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  [ -f "$pki/sa.key" ] || openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  [ -f "$pki/sa.pub" ] || openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  kubeconfig admin
  kubeconfig controller-manager
  kubeconfig scheduler
  kubeconfig kubelet
}

write_configs() {
  mkdir -p "$root/cni" "$root/containerd" "$root/kubelet"
  cat >"$root/containerd/config.toml" <<EOF
version = 2
root = "$root/containerd"
state = "$run/containerd"
[grpc]
  address = "$containerd_sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # Sandboxes may lack CAP_SYS_RESOURCE: then runc cannot lower a pod's
  # oom_score_adj (the pause container asks for -998) and every pod fails.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, not /var/run/netns: `down`
  # finds and unmounts them there.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$root/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$run/runc"
EOF
  # No masquerade, no port maps: pods talk to each other and to the node only.
  cat >"$root/cni/10-slipway.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "slipway",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]], "dataDir": "$root/cni-ipam"}
    },
    {"type": "loopback"}
  ]
}
EOF
  cat >"$root/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The node IP, on our bridge: the API server reaches the kubelet (logs, exec)
# at the node's InternalIP, and no other address is reachable from outside.
address: $node_ip
port: 10250
readOnlyPort: 0
healthzPort: 0
containerRuntimeEndpoint: unix://$containerd_sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
staticPodPath: ""
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
# The test disk is shared: never evict pods or delete the imported images.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: /etc/resolv.conf
EOF
}

# The kernel settings a kubelet changes at start (kernel.panic=10, ...).
kernel_tunables="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops"

restore_tunables() {
  [ -f "$run/sysctl.saved" ] || return 0
  local key value
  paste -d' ' <(tr ' ' '\n' <<<"$kernel_tunables") "$run/sysctl.saved" | while read -r key value; do
    sysctl -qw "$key=$value" || true
  done
}

# remove_kubelet_rules removes the iptables chains a kubelet adds (a DROP of
# outside traffic to 127.0.0.0/8 and canaries). Run only when no other kubelet
# or kube-proxy uses this machine's tables.
remove_kubelet_rules() {
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v $ipt >/dev/null || continue
    $ipt -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
    $ipt -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
    for table in filter nat mangle; do
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        $ipt -t $table -F $chain 2>/dev/null && $ipt -t $table -X $chain 2>/dev/null || true
      done
    done
  done
}

pid_of() { # pid_of NAME: the pid of a process this script started, if it lives
  local f=$run/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  # Every command we start names $root; a reused pid does not.
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$root/" && echo "$pid"
}

# launch NAME CMD...: start CMD in the background unless NAME already runs.
launch() {
  local name=$1
  shift
  pid_of "$name" >/dev/null && return
  log "starting $name; log in $logs/$name.log"
  # fd 9 (the lock) is closed so the daemon does not hold it forever.
  setsid nohup "$@" >>"$logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$what not ready after ${seconds}s; see $logs/"
      return 1
    fi
    sleep 1
  done
}

api_ready() {
  curl -fsS --max-time 2 2>/dev/null --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" | grep -q ok
}

node_ready() {
  curl -fsS --max-time 2 2>/dev/null --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$api_port/api/v1/nodes/$node" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

ctr_() { ctr --address "$containerd_sock" --namespace k8s.io "$@"; }

up() {
  install_packages
  mkdir -p "$run" "$root" "$cache"
  # Several engineers, scripts or test binaries may call `up` at once.
  exec 9>"$run/up.lock"
  flock 9
  if api_ready && node_ready; then
    print_env
    return
  fi
  build_binaries
  build_images
  make_pki
  write_configs
  mkdir -p "$logs"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
  fi
  ip link set "$bridge" up

  launch etcd etcd --name slipway --data-dir "$root/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "slipway=http://127.0.0.1:$((etcd_port + 1))"
  wait_for etcd 60 curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

  launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --advertise-address "$node_ip" \
    --service-cluster-ip-range "$service_cidr" \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --anonymous-auth=false
  wait_for kube-apiserver 180 api_ready

  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$root/controller-manager.kubeconfig" --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --use-service-account-credentials --service-cluster-ip-range "$service_cidr" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" --leader-elect=false
  launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$root/scheduler.kubeconfig" --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

  launch containerd containerd --config "$root/containerd/config.toml"
  wait_for containerd 60 ctr_ version
  ctr_ images import "$cache/images/pause.tar" >&2
  ctr_ images import "$cache/images/busybox.tar" >&2

  # The kubelet sets these machine-wide at its start (and only then): keep
  # the machine's own values to put back once it runs.
  pid_of kubelet >/dev/null || sysctl -n $kernel_tunables >"$run/sysctl.saved"
  launch kubelet "$bin/kubelet" \
    --config "$root/kubelet/config.yaml" --kubeconfig "$root/kubelet.kubeconfig" \
    --root-dir "$root/kubelet" --hostname-override "$node" --node-ip "$node_ip"
  wait_for "node $node" 180 node_ready
  restore_tunables
  print_env
}

stop() { # stop NAME: TERM, then KILL after 30s
  local pid
  pid=$(pid_of "$1") || { rm -f "$run/$1.pid"; return 0; }
  log "stopping $1 ($pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$run/$1.pid"
}

down() {
  # The kubelet first, so no pod restarts while the rest goes away; then the
  # pods' containers, whose shims outlive containerd.
  stop kubelet
  restore_tunables
  if pid_of containerd >/dev/null; then
    local c
    for c in $(ctr_ tasks list -q 2>/dev/null); do
      ctr_ tasks kill -s KILL "$c" >/dev/null 2>&1 || true
      ctr_ tasks delete --force "$c" >/dev/null 2>&1 || true # its shim exits
    done
  fi
  stop containerd
  # A shim that outlived its task (or a crash) still names our socket.
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim.* -address $containerd_sock"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  # Pod sandboxes leave their network namespaces mounted under the state dir.
  local m
  for m in $({ grep -o " \($run\|$root\)/[^ ]*" /proc/mounts || true; } | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  remove_kubelet_rules
  # The kubelet's cgroups (cgroupfs driver), deepest first; rmdir leaves any in use.
  find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} + 2>/dev/null || true
  if [ "${1:-}" = --purge ]; then
    log "removing $root"
    rm -rf "$root" "$run"
  fi
}

case "${1:-}" in
up) up ;;
down) down "${2:-}" ;;
env) print_env ;;
*)
  echo "usage: $0 up|down [--purge]|env" >&2
  exit 2
  ;;
esac
