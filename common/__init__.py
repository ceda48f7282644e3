"""The ground floor every package of ours may import: exit codes and the error base, the strict
TOML/settings loader, the TLS file triple, the AE-title rule, the SQLite helper and the key-file
reader/writer.

It imports nothing of ours and nothing heavy (standard library only), so dicom_listener/, runtime/
and deid/ can stand on it without depending on each other.
"""
