"""Tables checked against the log: every row a decision or a page reads is bound to the
signed entry it projects, and checked on read (docs/trust.md).

`findings` holds what a disagreement looks like; `record` and `custody` say, table by
table, what row each entry makes; `batch` checks everything one batch's decisions rest
on; `reconcile` checks every table against the whole log.
"""
