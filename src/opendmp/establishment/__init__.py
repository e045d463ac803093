"""Establishment feeds: hospitals' software filing many ITI-65 provide bundles at once."""
