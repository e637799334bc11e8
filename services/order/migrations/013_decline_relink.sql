-- A card declined at the bank (issue 11's follow-up): the payment service
-- bills the order anew by itself (a new link, at most
-- PAYMENT_DECLINE_REBILLS times), and the order hears it by the new
-- invoice.created: from payment_error it goes back to awaiting_payment,
-- where the customer pays the new link (facts.c).
INSERT INTO transitions (from_status, to_status, role) VALUES
    ('payment_error', 'awaiting_payment', 'system')
ON CONFLICT DO NOTHING;
