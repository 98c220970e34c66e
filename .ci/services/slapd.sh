# Sourced by .ci/run: OpenLDAP's slapd and ldap-utils for dss-ldap's tests (Debian's packages).
# The tests start their own slapd on a free loopback port with a temporary configuration; this
# only makes sure the binaries are there. Quiet and quick when they already are.
if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null 2>&1; then
  echo "installing slapd and ldap-utils (dss-ldap's tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # slapd's postinst would start a system-wide server: ask it not to (no init system here anyway)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    dss_slapd_policy=1
  fi
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null
  if [ "${dss_slapd_policy:-}" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  unset dss_slapd_policy
  [ -x /usr/sbin/slapd ] || { echo "installing slapd failed" >&2; exit 2; }
fi
