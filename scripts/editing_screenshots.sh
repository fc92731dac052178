#!/bin/sh
# Refresh the guide's screenshots of the editing pages (docs/img/dashboard-*.png): the Manager's
# browser walk of tests/dashboard/test_browser_editing.py saves them as it goes, in headless
# Chromium against the Odoo simulator. Needs chromium and chromedriver (apt-get install
# chromium chromium-driver) and the project's test dependencies.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python}
SYNCSTUDIO_SCREENSHOTS="$root/docs/img" PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" -m pytest -q -p no:cacheprovider -p no:logging \
  "tests/dashboard/test_browser_editing.py::test_each_role_walks_the_editing_paths[boss]"
ls -l docs/img/dashboard-task-editor.png docs/img/dashboard-trigger-pickers.png \
  docs/img/dashboard-project.png
