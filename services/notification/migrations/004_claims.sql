-- Claims (DOMAIN.md F30, issue 14 item 3): the customer is told when a
-- claim is approved and when it is completed, by email and by SMS, in
-- Russian and English. claim.decided with another decision (rejected,
-- needs clarification) tells nobody by default: the manager calls.
INSERT INTO triggers (trigger_id, event_type, condition, template, channel, recipient, description) VALUES
    ('claim_approved.email', 'claim.decided', '{"decision": ["approved"]}', 'claim_approved',
     'email', 'customer', 'the customer hears that their claim was approved'),
    ('claim_approved.sms', 'claim.decided', '{"decision": ["approved"]}', 'claim_approved',
     'sms', 'customer', 'and by SMS'),
    ('claim_completed.email', 'claim.completed', '{}', 'claim_completed', 'email', 'customer',
     'the customer hears that their claim is done'),
    ('claim_completed.sms', 'claim.completed', '{}', 'claim_completed', 'sms', 'customer',
     'and by SMS')
ON CONFLICT (trigger_id) DO NOTHING;

INSERT INTO templates (template, channel, language, subject, body, html) VALUES
    ('claim_approved', 'email', 'ru', 'Заказ №{{number}}: заявка одобрена',
     E'Здравствуйте, {{customer_name}}!\n\nВаша заявка «{{claim_name}}» по заказу №{{number}} одобрена.{{#claim_amount}} Сумма: {{claim_amount}}.{{/claim_amount}}\n{{#claim_comment}}{{claim_comment}}\n{{/claim_comment}}\nОтписаться от писем: {{unsubscribe_url}}\n', ''),
    ('claim_approved', 'email', 'en', 'Order No. {{number}}: your claim is approved',
     E'Hello {{customer_name}},\n\nyour claim "{{claim_name}}" for order No. {{number}} is approved.{{#claim_amount}} Amount: {{claim_amount}}.{{/claim_amount}}\n{{#claim_comment}}{{claim_comment}}\n{{/claim_comment}}\nUnsubscribe: {{unsubscribe_url}}\n', ''),
    ('claim_approved', 'sms', 'ru', '', 'Заявка по заказу №{{number}} одобрена.', ''),
    ('claim_approved', 'sms', 'en', '', 'Your claim for order No. {{number}} is approved.', ''),
    ('claim_completed', 'email', 'ru', 'Заказ №{{number}}: заявка выполнена',
     E'Здравствуйте, {{customer_name}}!\n\nЗаявка «{{claim_name}}» по заказу №{{number}} выполнена.\n{{#claim_comment}}{{claim_comment}}\n{{/claim_comment}}\nОтписаться от писем: {{unsubscribe_url}}\n', ''),
    ('claim_completed', 'email', 'en', 'Order No. {{number}}: your claim is done',
     E'Hello {{customer_name}},\n\nyour claim "{{claim_name}}" for order No. {{number}} is done.\n{{#claim_comment}}{{claim_comment}}\n{{/claim_comment}}\nUnsubscribe: {{unsubscribe_url}}\n', ''),
    ('claim_completed', 'sms', 'ru', '', 'Заявка по заказу №{{number}} выполнена.', ''),
    ('claim_completed', 'sms', 'en', '', 'Your claim for order No. {{number}} is done.', '')
ON CONFLICT (template, channel, language) DO NOTHING;
