"""The ground floor every package of ours may import: exit codes and the error base, the strict
TOML/settings loader, the TLS file triple, the AE-title rule and the SQLite helper.

It imports nothing of ours and nothing heavy (standard library only), so dicom_listener/, runtime/
and deid/ can stand on it without depending on each other.
"""
