-- What the customer is told of an edited order, and names for people in
-- place of codes (issue 12, issue 14 items 1 and 6).
--
-- 1. order.changed (a manager's edit, issue 14 item 1): the customer hears
--    what changed and the new total, by email and SMS (changed.email,
--    changed.sms; template order_changed). An edit of the lines is told once
--    inventory priced them (the order.reserved that answers it), so the
--    total told is the one billed; the edit waiting for its prices is kept
--    on the order (orders.pending_change, handlers.c). No payment link: a re-billed
--    edit brings its own invoice.created, told by invoice.email.
-- 2. An order short of stock goes back from awaiting_supply to new when the
--    supply comes; "new" said "принят" a second time. A label may now name
--    the status it was reached from (from_status, '' for any): that move
--    has words of its own.
-- 3. Carriers, tracking statuses and delivery methods were shown as codes
--    ("передан в city_courier"): labels holds their names per language
--    (placeholders.h: carrier, tracking_status, delivery_method; the codes
--    stay as carrier_code ...); a code with no name is shown as it is.
ALTER TABLE orders ADD COLUMN pending_change jsonb;

ALTER TABLE status_labels ADD COLUMN from_status text NOT NULL DEFAULT '';
ALTER TABLE status_labels DROP CONSTRAINT status_labels_pkey;
ALTER TABLE status_labels ADD PRIMARY KEY (status, from_status, language);
INSERT INTO status_labels (status, from_status, language, label) VALUES
    ('new', 'awaiting_supply', 'ru', 'снова в работе — товар поступил'),
    ('new', 'awaiting_supply', 'en', 'back in work: the goods have arrived')
ON CONFLICT DO NOTHING;

CREATE TABLE labels (
    kind     text NOT NULL CHECK (kind IN ('carrier', 'tracking_status', 'delivery_method')),
    code     text NOT NULL CHECK (octet_length(code) BETWEEN 1 AND 64),
    language text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    label    text NOT NULL CHECK (octet_length(label) BETWEEN 1 AND 200),
    PRIMARY KEY (kind, code, language)
);
INSERT INTO labels (kind, code, language, label) VALUES
    ('carrier', 'russian_post', 'ru', 'Почта России'), ('carrier', 'russian_post', 'en', 'Russian Post'),
    ('carrier', 'cdek', 'ru', 'СДЭК'), ('carrier', 'cdek', 'en', 'CDEK'),
    ('carrier', 'city_courier', 'ru', 'курьерская служба магазина'),
    ('carrier', 'city_courier', 'en', 'the store''s courier'),
    ('carrier', 'courier', 'ru', 'курьер'), ('carrier', 'courier', 'en', 'a courier'),
    ('carrier', 'self_pickup', 'ru', 'самовывоз'), ('carrier', 'self_pickup', 'en', 'self-pickup'),
    ('tracking_status', 'NY', 'ru', 'ещё не у перевозчика'),
    ('tracking_status', 'NY', 'en', 'not yet with the carrier'),
    ('tracking_status', 'UN', 'ru', 'статус неизвестен'), ('tracking_status', 'UN', 'en', 'status unknown'),
    ('tracking_status', 'AC', 'ru', 'принят перевозчиком'),
    ('tracking_status', 'AC', 'en', 'accepted by the carrier'),
    ('tracking_status', 'IT', 'ru', 'в пути'), ('tracking_status', 'IT', 'en', 'in transit'),
    ('tracking_status', 'AT', 'ru', 'неудачная попытка доставки'),
    ('tracking_status', 'AT', 'en', 'delivery attempted'),
    ('tracking_status', 'EX', 'ru', 'задержка доставки'), ('tracking_status', 'EX', 'en', 'delivery exception'),
    ('tracking_status', 'SP', 'ru', 'доставлен частично'),
    ('tracking_status', 'SP', 'en', 'partly delivered'),
    ('tracking_status', 'DE', 'ru', 'доставлен'), ('tracking_status', 'DE', 'en', 'delivered'),
    ('tracking_status', 'cash_collected', 'ru', 'оплачен курьеру'),
    ('tracking_status', 'cash_collected', 'en', 'paid to the courier'),
    ('delivery_method', 'courier', 'ru', 'курьером'), ('delivery_method', 'courier', 'en', 'by courier'),
    ('delivery_method', 'post', 'ru', 'почтой'), ('delivery_method', 'post', 'en', 'by post'),
    ('delivery_method', 'pickup_point', 'ru', 'в пункт выдачи'),
    ('delivery_method', 'pickup_point', 'en', 'to a pickup point'),
    ('delivery_method', 'self_pickup', 'ru', 'самовывоз'), ('delivery_method', 'self_pickup', 'en', 'self-pickup')
ON CONFLICT DO NOTHING;

-- "передан в {{carrier}}" wants the carrier's name in the accusative; the
-- names are nominative: the carrier is named after a colon. A template a
-- store has edited is left as it is.
UPDATE templates SET body = E'Здравствуйте, {{customer_name}}!\n\nЗаказ №{{number}} передан в доставку: {{carrier}}.{{#tracking_number}} Трек-номер: {{tracking_number}}\n{{tracking_url}}{{/tracking_number}}\n\nОтписаться от писем: {{unsubscribe_url}}\n'
 WHERE template = 'tracking' AND channel = 'email' AND language = 'ru'
   AND body = E'Здравствуйте, {{customer_name}}!\n\nЗаказ №{{number}} передан в {{carrier}}.{{#tracking_number}} Трек-номер: {{tracking_number}}\n{{tracking_url}}{{/tracking_number}}\n\nОтписаться от писем: {{unsubscribe_url}}\n';

INSERT INTO triggers (trigger_id, event_type, condition, template, channel, recipient, description) VALUES
    ('changed.email', 'order.changed', '{}', 'order_changed', 'email', 'customer',
     'the customer hears what an edit changed and the new total'),
    ('changed.sms', 'order.changed', '{}', 'order_changed', 'sms', 'customer',
     'and by SMS')
ON CONFLICT (trigger_id) DO NOTHING;

INSERT INTO templates (template, channel, language, subject, body, html) VALUES
    ('order_changed', 'email', 'ru', 'Заказ №{{number}} изменён',
     E'Здравствуйте, {{customer_name}}!\n\nВ вашем заказе №{{number}} изменены:{{#lines_changed}} состав заказа;{{/lines_changed}}{{#delivery_changed}} доставка;{{/delivery_changed}}{{#discount_changed}} скидка;{{/discount_changed}}\n\nТеперь в заказе:\n{{#items}}{{name}} × {{quantity}}\n{{/items}}{{#delivery_changed}}Доставка: {{delivery_method}}{{#pickup_address}}, {{pickup_address}}{{/pickup_address}}\n{{/delivery_changed}}{{#totals}}Скидка: {{discount}}\nДоставка: {{delivery}}\nИтого: {{total}}\n{{/totals}}\nОтписаться от писем: {{unsubscribe_url}}\n',
     E'<p>Здравствуйте, {{customer_name}}!</p><p>В вашем заказе №{{number}} изменены:{{#lines_changed}} состав заказа;{{/lines_changed}}{{#delivery_changed}} доставка;{{/delivery_changed}}{{#discount_changed}} скидка;{{/discount_changed}}</p><ul>{{#items}}<li>{{name}} × {{quantity}}</li>{{/items}}</ul>{{#totals}}<p>Итого: {{total}}</p>{{/totals}}<p><a href="{{unsubscribe_url}}">Отписаться</a></p>'),
    ('order_changed', 'email', 'en', 'Order No. {{number}} has been changed',
     E'Hello {{customer_name}},\n\nwe changed your order No. {{number}}:{{#lines_changed}} its items;{{/lines_changed}}{{#delivery_changed}} its delivery;{{/delivery_changed}}{{#discount_changed}} its discount;{{/discount_changed}}\n\nYour order now:\n{{#items}}{{name}} x {{quantity}}\n{{/items}}{{#delivery_changed}}Delivery: {{delivery_method}}{{#pickup_address}}, {{pickup_address}}{{/pickup_address}}\n{{/delivery_changed}}{{#totals}}Discount: {{discount}}\nDelivery: {{delivery}}\nTotal: {{total}}\n{{/totals}}\nUnsubscribe: {{unsubscribe_url}}\n',
     E'<p>Hello {{customer_name}},</p><p>we changed your order No. {{number}}:{{#lines_changed}} its items;{{/lines_changed}}{{#delivery_changed}} its delivery;{{/delivery_changed}}{{#discount_changed}} its discount;{{/discount_changed}}</p><ul>{{#items}}<li>{{name}} x {{quantity}}</li>{{/items}}</ul>{{#totals}}<p>Total: {{total}}</p>{{/totals}}<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'),
    ('order_changed', 'sms', 'ru', '', 'Заказ №{{number}} изменён.{{#totals}} Итого: {{total}}{{/totals}}', ''),
    ('order_changed', 'sms', 'en', '', 'Order No. {{number}} changed.{{#totals}} Total: {{total}}{{/totals}}', '')
ON CONFLICT (template, channel, language) DO NOTHING;
