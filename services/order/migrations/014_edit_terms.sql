-- Issue 14 item 1: an edit may change how a confirmed, unpaid order is paid
-- (a delivery to another method or region: prepaid <-> on delivery,
-- editing.c). conveyor then moves it itself (funnel_reconfirm): prepaid ->
-- on delivery from awaiting or failed payment to prepare for delivery (the
-- open invoice is voided by the payment service); on delivery -> prepaid
-- from prepare for delivery back to awaiting payment (a new invoice).
INSERT INTO transitions (from_status, to_status, role) VALUES
    ('awaiting_payment', 'prepare_for_delivery', 'system'),
    ('payment_error', 'prepare_for_delivery', 'system'),
    ('prepare_for_delivery', 'awaiting_payment', 'system')
ON CONFLICT DO NOTHING;
