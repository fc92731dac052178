#!/usr/bin/env bash
# Build a minimal Debian bookworm image with Python 3 for machines that reach Debian's package
# archive but no image registry, then `docker import` it under the given tag.
#
#   bash docker/base-image.sh [TAG]        (default tag: syncstudio-base:bookworm)
#
# The machine's extra CA certificates and pip's certificate setting are copied in, so that pip
# inside the image trusts the same TLS middleboxes as pip on the host. Needs root, debootstrap
# and a running Docker engine. An existing image with the tag is kept (delete it to rebuild).
set -euo pipefail
tag="${1:-syncstudio-base:bookworm}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag exists"; exit 0
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >/dev/null
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
# Package lists and caches are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc \
  "$root"/usr/share/man "$root"/usr/share/locale
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "base image $tag built"
