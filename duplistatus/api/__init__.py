"""The JSON API: the original duplistatus endpoints (`compat`) and our own (`v1`)."""
