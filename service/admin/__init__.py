"""Operator registration of institutions, providers, accounts, guardianships and clients."""
