"""Sync Studio core: Odoo RPC, change detection, the own database and the domain model."""
