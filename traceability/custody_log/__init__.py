"""The custody log: signed statements appended to an RFC 9162 Merkle log.

`statements` builds and checks what actors sign (plain Python); `tree` keeps the
Merkle tree in the database; `appender` appends under one lock; `checkpoints` signs
tree heads; `keys` registers and revokes actor keys; `verify_log` checks a whole
stored log in constant memory. The format is docs/custody-log.md.
"""
