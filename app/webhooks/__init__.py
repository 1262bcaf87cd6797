"""Inbound webhooks: deliveries checked and recorded at once, applied right after.

A delivery is answered within the sender's deadline (Shopify waits 5 s) by
doing the least that makes it safe to acknowledge: the raw body is checked
against its signature (:mod:`app.webhooks.signature`) and recorded in
``webhook_events`` in one short transaction (:mod:`app.webhooks.receive`). The
record is the queue: a background worker (:mod:`app.webhooks.worker`), woken by
the route (:mod:`app.webhooks.doorbell`), applies each event in its own
transaction (:mod:`app.webhooks.apply`), turning the payload into demand lines
through the connector's field mapping exactly as a sync does, so a line pulled
by a sync and received by webhook is one line.

An event stays ``received`` until one transaction both claims it and writes its
lines (``applied``), so a crash at any point leaves it ``received`` for the next
start, and several processes on one store apply it once. A payload that cannot
be read is ``failed`` with a message, its body kept for a later retry.
"""
