"""Painel: subscriber platform of a Brazilian VoIP operator running FreeSWITCH (shared core)."""

__version__ = "0.1.0"
