#!/bin/sh
# Builds the tiny image the Docker driver tests use, without a registry:
#   boxd-test:busybox = a rootfs holding Debian's static busybox + applet symlinks.
# Idempotent and fast: does nothing when the image already exists (pass --force to rebuild).
# Needs: a reachable Docker engine, busybox-static (/bin/busybox, statically linked).
set -eu

IMAGE="${BOXD_TEST_IMAGE:-boxd-test:busybox}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
VERSION=2   # bump when the image contents change: an older image is then rebuilt

have="$(docker image inspect -f '{{index .Config.Labels "boxd.test-image"}}' "$IMAGE" 2>/dev/null || true)"
if [ "${1:-}" != "--force" ] && [ "$have" = "$VERSION" ]; then
  echo "$IMAGE already present"
  exit 0
fi

[ -x "$BUSYBOX" ] || { echo "missing $BUSYBOX: apt-get install busybox-static" >&2; exit 1; }

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
# One symlink per applet, like `busybox --install -s` would make inside the image.
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# Debian's busybox has no nohup applet; the tests (and people) expect one.
printf '#!/bin/sh\ntrap "" HUP\nexec "$@"\n' >"$root/bin/nohup"
chmod 755 "$root/bin/nohup"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

tar -C "$root" -c . | docker import \
  --change 'CMD ["/bin/sh"]' \
  --change 'ENV PATH=/bin' \
  --change "LABEL boxd.test-image=$VERSION" \
  - "$IMAGE" >/dev/null
echo "built $IMAGE"
