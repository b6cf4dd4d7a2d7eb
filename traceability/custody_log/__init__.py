"""The custody log: signed statements appended to an RFC 9162 Merkle log.

`statements` builds and checks what actors sign (plain Python); `signed_requests` reads
a person's signed request; `tree` keeps the Merkle tree in the database; `appender`
appends under one lock and signs checkpoints (C2SP tlog-checkpoint); `keys` registers
and revokes actor keys; `evidence` proves entries for the pages and the release gate;
`witnessing` and `published` gather witnesses' cosignatures; `verify_log` and
`verify_tiles` check a whole stored log in constant memory. The format is
docs/custody-log.md; the trust model is docs/trust.md.
"""
