"""The permit authority on the host: master key, serial ledger, tokens and zone files.

    from armlock import authority
    blob = authority.issue(key_path, fields)
"""

from armlock.authority.keys import (
    DEFAULT_KEY_FILE,
    KEY_ENV,
    KEY_LEN,
    AuthorityError,
    create_keys,
    create_master_key,
    default_key_path,
    derive_device_key,
    load_master_key,
    signing_key_path,
)
from armlock.authority.ledger import ledger_path, next_serial, read_ledger
from armlock.authority.tokens import (
    KIND_NAMES,
    MODE_NAMES,
    describe,
    inspect,
    iso,
    issue,
    issue_key_update,
    issue_recall,
    issue_reset,
    signer_for,
)

__all__ = [
    "DEFAULT_KEY_FILE", "KEY_ENV", "KEY_LEN", "KIND_NAMES", "MODE_NAMES", "AuthorityError",
    "create_keys", "create_master_key", "default_key_path", "derive_device_key", "describe",
    "inspect",
    "iso", "issue", "issue_key_update", "issue_recall", "issue_reset", "ledger_path",
    "load_master_key", "next_serial", "read_ledger", "signer_for", "signing_key_path",
]
