#!/usr/bin/env bash
# System packages the test suite uses, from Debian's archive. Installs only what is missing.
#   tar, gzip, zstd   independent tools the tests check imgexplore's numbers against
#   docker-registry   the CNCF distribution registry the registry tests run on 127.0.0.1
#   skopeo, curl      the peer of the pull benchmark, and the shell's curl | tee | sha256sum beside it
#   openssl, apache2-utils  keys for schema 1 signing, bcrypt htpasswd files
#   chromium          the browser the notebook widget test drives (with Playwright)
#   docker.io, containerd, podman, tar-split, busybox-static, stargz-snapshotter  real engines whose stores and containers (and ctr-remote, which makes eStargz and zstd:chunked images)
#                     `imgexplore host` is checked against, the reference tar-split assembler,
#                     and a static busybox for an image that can run
#   openssh-server, openssh-client  an sshd on 127.0.0.1 for the ssh:// daemon tests
set -euo pipefail
packages=(tar gzip zstd docker-registry skopeo curl openssl apache2-utils chromium docker.io containerd podman tar-split busybox-static stargz-snapshotter flatbuffers-compiler openssh-server openssh-client)
if [ $# -gt 0 ]; then packages=("$@"); fi  # or only the packages named

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
