"""Fixtures for job tests: a project with one task and triggers of every kind."""

from __future__ import annotations

import pytest

from connector.projects import ProjectImporter, parse
from connector.store.crypto import SecretBox

PROJECT = """
name: Jobs
tasks:
  - name: T
    code: |
      def handle_cron():
          log("tick")
      def handle_button():
          log("pressed")
    triggers:
      cron: [{trigger_name: EVERY_HOUR, interval: 1, interval_unit: hours}]
      button: [{trigger_name: PRESS}]
"""


@pytest.fixture
def project_id(settings, db):
    with db.session() as session:
        return ProjectImporter(session, SecretBox.from_settings(settings),
                               environ={}).import_data(parse(PROJECT)).id
