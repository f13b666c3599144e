"""Membership inference attacks. Each returns scores [T, N] (higher = member) for T target models."""
