# Sourced by .ci/run: Debian's headless Chromium and its chromedriver, for the HTML report's
# browser test (tests/test_html_report.py opens the report with selenium through
# /usr/bin/chromedriver; nothing is downloaded by selenium-manager). Quiet and quick when both
# are already there.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "installing chromium and chromium-driver (the HTML report's browser test)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] \
    || { echo "installing chromium failed" >&2; exit 2; }
fi
