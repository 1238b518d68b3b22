"""Chasing homes that go quiet: the reminder ladder and the compliance figures."""
