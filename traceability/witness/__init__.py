"""A transparency-log witness (c2sp.org/tlog-witness): a small service of its own.

It keeps, for each log it follows, the size and root it last cosigned, and cosigns a
new checkpoint only when a consistency proof shows that the new tree extends that one.
A site runs one beside its log; a partner (the clinic) can run another with its own
key and state, so that neither the log's operator nor its database can show two
histories without a witness refusing. It shares no state with the log's service: its
own keys, its own state directory, its own HTTP app.

Modules: ``state`` (the durable per-log record), ``service`` (add-checkpoint, without
HTTP), ``app`` (the HTTP interface), ``keys`` (its key files).
"""
