#!/usr/bin/env bash
# Installs what the PACS tests need: Orthanc with its DICOMweb plugin, and dicom3tools (dciodvfy).
# Uses apt-get where it is available and we are root or have passwordless sudo; otherwise prints the
# command and carries on (the PACS tests then skip, saying why). The Orthanc service is left stopped
# and disabled: the tests start their own Orthanc on free local ports.
set -uo pipefail
PACKAGES=(orthanc orthanc-dicomweb dicom3tools)
if command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; then
    if command -v dciodvfy >/dev/null 2>&1 && ls /usr/share/orthanc/plugins/*DicomWeb*.so* >/dev/null 2>&1; then
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-pacs: no apt-get here; install Orthanc (with DICOMweb) and dicom3tools to run the PACS tests" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "setup-pacs: run: sudo apt-get install -y ${PACKAGES[*]}  (the PACS tests skip until then)" >&2
    exit 0
fi
# policy-rc.d exit 101 keeps the package's service from starting during installation.
POLICY=/usr/sbin/policy-rc.d
PLACED=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null && "${SUDO[@]}" chmod +x "$POLICY" && PLACED=1
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}" \
    || { "${SUDO[@]}" apt-get update && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"; } \
    || echo "setup-pacs: could not install ${PACKAGES[*]}; the PACS tests will skip" >&2
[ "$PLACED" -eq 1 ] && "${SUDO[@]}" rm -f "$POLICY"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
exit 0
