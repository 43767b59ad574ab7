"""Rules of the registry and its transaction boundaries: seeding, catalogs, snapshots."""
