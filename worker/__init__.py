"""Sync Studio workers: Dramatiq broker and actors, task runtime and sandbox."""
