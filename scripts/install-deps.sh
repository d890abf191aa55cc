#!/usr/bin/env bash
# Installs the system packages Wharf needs to build and run (and, with --test, to test).
# As root it installs them with apt-get; otherwise it prints the exact command to run.
set -euo pipefail

# libvips, libopusfile and FFmpeg (with ffmpegthumbnailer) measure and thumbnail the media Wharf sends.
packages=(libsqlite3-dev libssl-dev libcurl4-openssl-dev libqrencode-dev libsodium-dev zlib1g-dev pkg-config
  libvips-dev libopusfile-dev libavformat-dev libffmpegthumbnailer-dev)
if [[ "${1:-}" == "--test" ]]; then
  # The consoles' browser tests: Debian's Chromium and its WebDriver.
  packages+=(python3 python3-pip chromium chromium-driver fonts-dejavu-core)
  # The n8n examples' JavaScript (expressions, Code nodes) runs in Node.js; Debian's when none is there.
  command -v node >/dev/null || packages+=(nodejs)
  # The media tests make their images, voice notes and videos with FFmpeg's command-line tool.
  packages+=(ffmpeg)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

install_python_packages() {
  # Independent peers the tests check our output against (Standard Webhooks, a QR decoder, Noise,
  # XEdDSA, the pairing ciphers, a WhatsApp Web client, a Signal implementation and an HTTP/SOCKS5
  # proxy), the browser
  # driver, and the OpenAPI document's checkers. pyaileys' generated protobuf code needs protobuf
  # 6.32.1 or later though its metadata asks for less; python-axolotl (GPL-3, test processes only)
  # builds python-axolotl-curve25519 from source with gcc.
  if [[ "${1:-}" == "--test" ]] && ! python3 -c "import standardwebhooks, selenium, zxingcpp, PIL, noise, xeddsa, cryptography, websockets, jsonschema, referencing, openapi_spec_validator, yaml, schemathesis, pyaileys, axolotl, axolotl_curve25519, google.protobuf, pproxy" 2>/dev/null; then
    local wanted=(standardwebhooks selenium zxing-cpp pillow noiseprotocol xeddsa cryptography websockets jsonschema referencing openapi-spec-validator pyyaml "schemathesis>=4.30,<5" "pyaileys==0.1.5" "protobuf>=6.32.1" "python-axolotl==0.2.3" "pproxy==2.7.9")
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${wanted[@]}" \
      || python3 -m pip install --quiet --break-system-packages "${wanted[@]}"
  fi
}

if ((${#missing[@]} == 0)); then
  install_python_packages "${1:-}"
  exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
  echo "Wharf needs these system packages, which are not installed: ${missing[*]}" >&2
  echo "Install them as root with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
install_python_packages "${1:-}"
