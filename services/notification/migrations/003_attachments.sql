-- The documents an email carries (DOMAIN.md F32; issue 12 item 3, issue 14
-- item 4): a trigger names them (documents.h: "order", "invoice"; email
-- only), each delivery keeps what its trigger asked for when it was
-- rendered, and the invoice it names, so the send fetches exactly those
-- from their owners and never sends without them.
ALTER TABLE triggers ADD COLUMN attachments text[] NOT NULL DEFAULT '{}'
    CHECK (attachments <@ ARRAY['order', 'invoice']::text[]
           AND (cardinality(attachments) = 0 OR channel = 'email'));
ALTER TABLE deliveries ADD COLUMN attachments text[] NOT NULL DEFAULT '{}';
ALTER TABLE deliveries ADD COLUMN invoice_id text NOT NULL DEFAULT ''
    CHECK (octet_length(invoice_id) <= 64);

-- The confirmation email carries the order's PDF: "confirmed" leaves
-- status.email for a trigger of its own (the same template).
UPDATE triggers SET condition = '{"to_status": ["new", "awaiting_payment", "payment_received", "assembled", "handed_to_carrier", "delivered", "cancelled"]}'
 WHERE trigger_id = 'status.email'
   AND condition = '{"to_status": ["new", "confirmed", "awaiting_payment", "payment_received", "assembled", "handed_to_carrier", "delivered", "cancelled"]}';
INSERT INTO triggers (trigger_id, event_type, condition, template, channel, recipient, description,
                      attachments)
VALUES ('confirmed.email', 'order.status_changed', '{"to_status": ["confirmed"]}',
        'status_changed', 'email', 'customer',
        'the customer''s confirmation, with the order''s PDF', '{order}')
ON CONFLICT (trigger_id) DO NOTHING;
