-- Money given back on request (refund.requested: a return or an approved
-- refund claim; a manager's POST /v1/orders/{id}/refunds; refunds.reason
-- 'requested') is no longer owed: the customer returned the goods or was
-- granted the claim. Without this column the order kept owing its whole
-- total after such a refund and read "partially paid" with the refunded
-- amount due. waived = the order's 'requested' refunds not failed
-- (pending, unknown or succeeded); owed = max(total - waived, 0), 0 when
-- cancelled (services/payment/ledger.h). Refunds of an overpayment or of
-- a cancelled order waive nothing.
ALTER TABLE orders ADD COLUMN waived_minor bigint NOT NULL DEFAULT 0
    CHECK (waived_minor >= 0);

UPDATE orders o SET waived_minor = r.waived
FROM (SELECT order_id, sum(amount_minor) AS waived FROM refunds
      WHERE reason = 'requested' AND status IN ('pending', 'unknown', 'succeeded')
      GROUP BY order_id) r
WHERE o.order_id = r.order_id;

-- the stored status of those orders as ledger.c gives it now: paid when
-- something stays paid and nothing is due
UPDATE orders SET status = 'paid', updated_at = now()
WHERE waived_minor > 0 AND NOT cancelled AND status = 'partially_paid'
  AND received_minor - refunded_minor > 0
  AND greatest(total_minor - waived_minor
               - (received_minor - refunded_minor - refunding_minor), 0) = 0;
