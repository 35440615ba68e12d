#!/bin/sh
# Install the Lethe kiosk from this checkout on Raspberry Pi OS (64-bit, bookworm) or on Debian 12+ (PC).
#
#   sudo hardware/install.sh [--no-screen] [--mirror DIR] [--prefix DIR]
#
# --no-screen   a headless kiosk: no Chromium, no cage, no guest-screen unit
# --mirror DIR  copy the model files from DIR instead of downloading them (an offline install)
# --prefix DIR  where the kiosk lives (default /opt/lethe)
#
# What it does, in order (hardware/README.md explains each): Debian packages; the kiosk user (and
# the screen's user); the code into PREFIX and its virtual environment (pip install, no compiler:
# every dependency has x86-64 and aarch64 wheels); the state folders and their permissions
# (tmpfiles.d); /etc/lethe/kiosk.env from kiosk.env.example when there is none; the models the
# default configuration loads, checked against their SHA-256; the systemd units, enabled. Run it
# again to update: it keeps kiosk.env and the kiosk's key.
set -eu

PREFIX=/opt/lethe
MIRROR=
SCREEN=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --no-screen) SCREEN=no ;;
        --mirror) MIRROR="$2"; shift ;;
        --prefix) PREFIX="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$HERE")
STATE=/var/lib/lethe-kiosk
# The models the kiosk's default configuration loads, on either backend (models/manifest.toml).
MODELS="dlib-resnet-v1 dlib-shape-predictor-5 dlib-resnet-v1-onnx yunet-2023mar mediapipe-face-landmark minifasnet-v2 minifasnet-v1se"

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
case "$(uname -m)" in
    aarch64|x86_64) ;;
    *) echo "install.sh: $(uname -m) is not supported: use a 64-bit OS (aarch64 or x86-64)" >&2; exit 1 ;;
esac
PI=no
if grep -qs "Raspberry Pi" /proc/device-tree/model; then PI=yes; fi

echo "== Debian packages"
PACKAGES="python3 python3-venv v4l-utils"
[ "$PI" = yes ] && PACKAGES="$PACKAGES python3-picamera2"
[ "$SCREEN" = yes ] && PACKAGES="$PACKAGES cage chromium curl"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $PACKAGES

echo "== users"
getent passwd lethe-kiosk >/dev/null || adduser --system --group --home "$STATE" --no-create-home lethe-kiosk
usermod -aG video lethe-kiosk
if [ "$SCREEN" = yes ]; then
    getent passwd kioskscreen >/dev/null || adduser --disabled-password --gecos "" kioskscreen
fi

echo "== code and virtual environment in $PREFIX"
if [ "$SOURCE" != "$PREFIX" ]; then
    mkdir -p "$PREFIX"
    tar -C "$SOURCE" --exclude=./.venv --exclude=./instance --exclude=./.git -cf - . | tar -C "$PREFIX" -xf -
fi
VENV_OPTIONS=
[ "$PI" = yes ] && VENV_OPTIONS=--system-site-packages  # the apt-installed picamera2
# shellcheck disable=SC2086
[ -x "$PREFIX/.venv/bin/python" ] || python3 -m venv $VENV_OPTIONS "$PREFIX/.venv"
"$PREFIX/.venv/bin/pip" install --disable-pip-version-check -q --upgrade pip
"$PREFIX/.venv/bin/pip" install --disable-pip-version-check -q "$PREFIX[kiosk]"

echo "== state folders and permissions"
install -m 0644 "$HERE/tmpfiles.d/lethe-kiosk.conf" /etc/tmpfiles.d/lethe-kiosk.conf
systemd-tmpfiles --create /etc/tmpfiles.d/lethe-kiosk.conf
if [ ! -e /etc/lethe/kiosk.env ]; then
    install -m 0640 -o root -g lethe-kiosk "$HERE/kiosk.env.example" /etc/lethe/kiosk.env
    echo "   wrote /etc/lethe/kiosk.env: set LETHE_KIOSK_SERVICE_URL and KIOSK_CAMERA there"
fi

echo "== models (checked against models/manifest.toml)"
FETCH="--mirror $MIRROR"
[ -n "$MIRROR" ] || FETCH=
# shellcheck disable=SC2086
runuser -u lethe-kiosk -- env HOME="$STATE" LETHE_MODEL_DIR="$STATE/models" \
    "$PREFIX/.venv/bin/lethe" models fetch $FETCH $MODELS
# shellcheck disable=SC2086
runuser -u lethe-kiosk -- env HOME="$STATE" LETHE_MODEL_DIR="$STATE/models" "$PREFIX/.venv/bin/lethe" models verify $MODELS

echo "== systemd units"
install -m 0644 "$HERE/systemd/lethe-kiosk.service" /etc/systemd/system/lethe-kiosk.service
UNITS=lethe-kiosk.service
if [ "$SCREEN" = yes ]; then
    install -m 0644 "$HERE/systemd/lethe-screen.service" /etc/systemd/system/lethe-screen.service
    UNITS="$UNITS lethe-screen.service"
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # shellcheck disable=SC2086
    systemctl enable $UNITS
    [ "$SCREEN" = yes ] && systemctl set-default graphical.target
else
    echo "   systemd is not running here (a container or chroot): units installed, not enabled"
fi

cat <<EOF

Installed. Next, on the service: lethe device code --name "Lobby 1"; then here:
  runuser -u lethe-kiosk -- env HOME=$STATE $PREFIX/.venv/bin/lethe kiosk register --service URL --code CODE
  systemctl start $UNITS
EOF
