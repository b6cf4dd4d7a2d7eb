"""Custody of vials and shippers: where they stand, the signed steps that move them,
and what people are shown of it.

From the bottom up:

- `positions`: where a vial or shipper stands and its open handoff (reads only);
- `frame`: what every signed step shares: the request's checks, its entry, the moves;
- `steps`: store, pack, dispatch, receive, administer, destroy;
- `handoffs`: offer a unit to another party, and accept it;
- `idempotency`: earlier answers to a retried request;
- `views`: what a person holds, a site's storage map, a vial's custody history;
- `shippers`: a shipper as the API shows it;
- `actions`: which steps the vial page offers a signed-in user.

The package re-exports nothing: a call site names the module its function lives in,
so a reader sees at once whether it reads custody or changes it.
"""
