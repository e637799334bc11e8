-- The notification service's tables (DOMAIN.md F19-F21). services/
-- notification/store.c holds every statement that touches them.
--
-- What it knows of an order comes from the order, payment and shipping
-- streams (orders, staff); what it says is data (triggers, templates,
-- status_labels); what it said is the delivery log (deliveries), one row
-- per (event, trigger, recipient), unique by its dedup key so each message
-- is recorded, and sent, once.

-- The facts of an order a message may need, merged as they arrive; an
-- older version of the order's own facts changes nothing.
CREATE TABLE orders (
    order_id        uuid    PRIMARY KEY,
    version         bigint  NOT NULL DEFAULT 0,
    number          bigint  NOT NULL DEFAULT 0,
    title           text    NOT NULL DEFAULT '',
    customer_id     text    NOT NULL DEFAULT '',
    customer_name   text    NOT NULL DEFAULT '',
    customer_email  text    NOT NULL DEFAULT '',
    customer_phone  text    NOT NULL DEFAULT '',
    channel         text    NOT NULL DEFAULT '',
    region          text    NOT NULL DEFAULT '',
    delivery_method text    NOT NULL DEFAULT '',
    pickup_address  text    NOT NULL DEFAULT '',
    status          text    NOT NULL DEFAULT '',
    payment_terms   text    NOT NULL DEFAULT '',
    manager_id      text    NOT NULL DEFAULT '',
    -- [{line_no, sku, name, quantity, unit_price_minor, total_minor}]
    lines           jsonb   NOT NULL DEFAULT '[]',
    -- {lines_minor, discount_minor, delivery_minor, total_minor, currency}
    totals          jsonb   NOT NULL DEFAULT '{}',
    -- payment_url, invoice_amount_minor, tracking_number, tracking_url, carrier
    extra           jsonb   NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer ON orders (customer_id) WHERE customer_id <> '';

-- Staff as order.assigned names them, for a task's assignee.
CREATE TABLE staff (
    staff_id   text PRIMARY KEY CHECK (octet_length(staff_id) BETWEEN 1 AND 64),
    name       text NOT NULL DEFAULT '',
    email      text NOT NULL DEFAULT '',
    phone      text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- F19: an event type and a condition -> a template, a channel and a
-- recipient. condition is a JSON object of fact -> value or [values]; every
-- key must match (triggers.h). recipient: customer, manager (the order's,
-- or a task's assignee), purchaser (stock.low's buyer) or staff (the staff
-- chat, NOTIFY_STAFF_CHAT).
CREATE TABLE triggers (
    trigger_id  text    PRIMARY KEY CHECK (trigger_id ~ '^[a-z0-9_.-]{1,64}$'),
    event_type  text    NOT NULL CHECK (octet_length(event_type) BETWEEN 1 AND 64),
    condition   jsonb   NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(condition) = 'object'),
    template    text    NOT NULL CHECK (template ~ '^[a-z0-9_.-]{1,64}$'),
    channel     text    NOT NULL CHECK (channel IN ('email', 'sms', 'telegram')),
    recipient   text    NOT NULL CHECK (recipient IN ('customer', 'manager', 'purchaser', 'staff')),
    enabled     boolean NOT NULL DEFAULT true,
    description text    NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX triggers_event ON triggers (event_type) WHERE enabled;

-- F20: a template per name, channel and language, Mustache text
-- (render.h). subject: email only; html: email only, optional.
CREATE TABLE templates (
    template   text NOT NULL CHECK (template ~ '^[a-z0-9_.-]{1,64}$'),
    channel    text NOT NULL CHECK (channel IN ('email', 'sms', 'telegram')),
    language   text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    subject    text NOT NULL DEFAULT '' CHECK (octet_length(subject) <= 1000),
    body       text NOT NULL CHECK (octet_length(body) BETWEEN 1 AND 65536),
    html       text NOT NULL DEFAULT '' CHECK (octet_length(html) <= 131072),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template, channel, language)
);

-- Status names for customers, per language ({{status_label}}).
CREATE TABLE status_labels (
    status   text NOT NULL,
    language text NOT NULL,
    label    text NOT NULL,
    PRIMARY KEY (status, language)
);

-- Opt-out per customer and channel (the link in every email).
CREATE TABLE optouts (
    customer_id text NOT NULL CHECK (octet_length(customer_id) BETWEEN 1 AND 200),
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'telegram')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, channel)
);

-- The delivery log: one row per message, rendered when its event was
-- heard; status moves pending -> sent | failed | outcome_unknown, or is
-- suppressed at once (opted out).
CREATE TABLE deliveries (
    delivery_id   uuid    PRIMARY KEY,
    dedup_key     text    NOT NULL UNIQUE,
    event_id      text    NOT NULL,
    event_type    text    NOT NULL,
    trigger_id    text    NOT NULL,
    template      text    NOT NULL,
    language      text    NOT NULL,
    channel       text    NOT NULL CHECK (channel IN ('email', 'sms', 'telegram')),
    recipient_kind text   NOT NULL,
    recipient     text    NOT NULL CHECK (octet_length(recipient) BETWEEN 1 AND 254),
    recipient_name text   NOT NULL DEFAULT '',
    order_id      uuid,
    customer_id   text    NOT NULL DEFAULT '',
    subject       text    NOT NULL DEFAULT '',
    body          text    NOT NULL,
    html          text    NOT NULL DEFAULT '',
    status        text    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'failed', 'outcome_unknown', 'suppressed')),
    provider_id   text    NOT NULL DEFAULT '',
    error_code    text    NOT NULL DEFAULT '',
    error_message text    NOT NULL DEFAULT '',
    attempts      integer NOT NULL DEFAULT 0,
    not_before    timestamptz,
    -- when the event that caused it committed (its occurred_at), for the bench
    event_at      timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX deliveries_order ON deliveries (order_id, created_at) WHERE order_id IS NOT NULL;
CREATE INDEX deliveries_customer ON deliveries (customer_id, created_at) WHERE customer_id <> '';

INSERT INTO status_labels (status, language, label) VALUES
    ('new', 'ru', 'принят'), ('new', 'en', 'received'),
    ('no_answer', 'ru', 'ждёт звонка'), ('no_answer', 'en', 'waiting for your answer'),
    ('awaiting_supply', 'ru', 'ждёт поставки'), ('awaiting_supply', 'en', 'waiting for supply'),
    ('confirmed', 'ru', 'подтверждён'), ('confirmed', 'en', 'confirmed'),
    ('awaiting_payment', 'ru', 'ждёт оплаты'), ('awaiting_payment', 'en', 'awaiting payment'),
    ('payment_error', 'ru', 'оплата не прошла'), ('payment_error', 'en', 'payment failed'),
    ('payment_received', 'ru', 'оплачен'), ('payment_received', 'en', 'paid'),
    ('prepare_for_delivery', 'ru', 'готовится к отправке'),
    ('prepare_for_delivery', 'en', 'being prepared'),
    ('assembled', 'ru', 'собран'), ('assembled', 'en', 'packed'),
    ('handed_to_carrier', 'ru', 'передан в доставку'), ('handed_to_carrier', 'en', 'shipped'),
    ('rescheduled', 'ru', 'доставка перенесена'), ('rescheduled', 'en', 'delivery rescheduled'),
    ('delivered', 'ru', 'доставлен'), ('delivered', 'en', 'delivered'),
    ('completed', 'ru', 'выполнен'), ('completed', 'en', 'completed'),
    ('cancelled', 'ru', 'отменён'), ('cancelled', 'en', 'cancelled'),
    ('returned', 'ru', 'возвращён'), ('returned', 'en', 'returned');

-- The shipped defaults (issue 12, item 1).
INSERT INTO triggers (trigger_id, event_type, condition, template, channel, recipient, description) VALUES
    ('status.email', 'order.status_changed',
     '{"to_status": ["new", "confirmed", "awaiting_payment", "payment_received", "assembled", "handed_to_carrier", "delivered", "cancelled"]}',
     'status_changed', 'email', 'customer', 'the customer hears of every status from new to delivered'),
    ('status.sms', 'order.status_changed',
     '{"to_status": ["new", "confirmed", "delivered", "cancelled"]}',
     'status_changed', 'sms', 'customer', 'and by SMS where a phone is known (tracking.sms says when it ships)'),
    ('invoice.email', 'invoice.created', '{}', 'invoice', 'email', 'customer',
     'the payment link'),
    ('tracking.email', 'shipment.handed_over', '{}', 'tracking', 'email', 'customer',
     'the tracking number and link when the parcel leaves'),
    ('tracking.sms', 'shipment.handed_over', '{}', 'tracking', 'sms', 'customer',
     'the tracking number by SMS'),
    ('shortage.email', 'stock.shortage', '{}', 'shortage', 'email', 'customer',
     'a late item and its expected date (F11)'),
    ('assigned.telegram', 'order.assigned', '{}', 'assigned', 'telegram', 'manager',
     'the manager hears of an order given to them'),
    ('assigned.email', 'order.assigned', '{}', 'assigned', 'email', 'manager',
     'and by email'),
    ('task.telegram', 'task.created', '{}', 'task', 'telegram', 'manager',
     'the assignee hears of every task'),
    ('stock_low.email', 'stock.low', '{}', 'stock_low', 'email', 'purchaser',
     'the purchaser hears of a SKU running low (F13)');

INSERT INTO templates (template, channel, language, subject, body, html) VALUES
    ('status_changed', 'email', 'ru', 'Заказ №{{number}}: {{status_label}}',
     E'Здравствуйте, {{customer_name}}!\n\nВаш заказ №{{number}} {{status_label}}.\n\n{{#items}}{{name}} × {{quantity}}{{#total}} — {{total}}{{/total}}\n{{/items}}{{#totals}}Итого: {{total}}{{/totals}}\n{{#payment_url}}Оплатить: {{payment_url}}\n{{/payment_url}}\nОтписаться от писем: {{unsubscribe_url}}\n',
     E'<p>Здравствуйте, {{customer_name}}!</p><p>Ваш заказ №{{number}} {{status_label}}.</p><ul>{{#items}}<li>{{name}} × {{quantity}}{{#total}} — {{total}}{{/total}}</li>{{/items}}</ul>{{#totals}}<p>Итого: {{total}}</p>{{/totals}}<p><a href="{{unsubscribe_url}}">Отписаться</a></p>'),
    ('status_changed', 'email', 'en', 'Order No. {{number}}: {{status_label}}',
     E'Hello {{customer_name}},\n\nyour order No. {{number}} is {{status_label}}.\n\n{{#items}}{{name}} x {{quantity}}{{#total}}: {{total}}{{/total}}\n{{/items}}{{#totals}}Total: {{total}}{{/totals}}\n{{#payment_url}}Pay: {{payment_url}}\n{{/payment_url}}\nUnsubscribe: {{unsubscribe_url}}\n',
     E'<p>Hello {{customer_name}},</p><p>your order No. {{number}} is {{status_label}}.</p><ul>{{#items}}<li>{{name}} x {{quantity}}{{#total}}: {{total}}{{/total}}</li>{{/items}}</ul>{{#totals}}<p>Total: {{total}}</p>{{/totals}}<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'),
    ('status_changed', 'sms', 'ru', '', 'Заказ №{{number}} {{status_label}}.{{#tracking_number}} Трек: {{tracking_number}}{{/tracking_number}}', ''),
    ('status_changed', 'sms', 'en', '', 'Order No. {{number}}: {{status_label}}.{{#tracking_number}} Tracking: {{tracking_number}}{{/tracking_number}}', ''),
    ('invoice', 'email', 'ru', 'Оплата заказа №{{number}}',
     E'Здравствуйте, {{customer_name}}!\n\nСчёт на {{invoice_amount}} по заказу №{{number}}: {{payment_url}}\n\nОтписаться от писем: {{unsubscribe_url}}\n', ''),
    ('invoice', 'email', 'en', 'Payment for order No. {{number}}',
     E'Hello {{customer_name}},\n\nthe invoice for {{invoice_amount}} for order No. {{number}}: {{payment_url}}\n\nUnsubscribe: {{unsubscribe_url}}\n', ''),
    ('tracking', 'email', 'ru', 'Заказ №{{number}} в пути',
     E'Здравствуйте, {{customer_name}}!\n\nЗаказ №{{number}} передан в {{carrier}}. Трек-номер: {{tracking_number}}\n{{tracking_url}}\n\nОтписаться от писем: {{unsubscribe_url}}\n', ''),
    ('tracking', 'email', 'en', 'Order No. {{number}} is on its way',
     E'Hello {{customer_name}},\n\norder No. {{number}} is with {{carrier}}. Tracking number: {{tracking_number}}\n{{tracking_url}}\n\nUnsubscribe: {{unsubscribe_url}}\n', ''),
    ('tracking', 'sms', 'ru', '', 'Заказ №{{number}} в пути, трек {{tracking_number}}', ''),
    ('tracking', 'sms', 'en', '', 'Order No. {{number}} shipped, tracking {{tracking_number}}', ''),
    ('shortage', 'email', 'ru', 'Заказ №{{number}}: не всё есть на складе',
     E'Здравствуйте, {{customer_name}}!\n\nВ заказе №{{number}} не хватает товара:\n{{#short_items}}{{sku}}: {{requested}} шт.{{#expected_date}}, ожидаем {{expected_date}}{{/expected_date}}\n{{/short_items}}\nМенеджер свяжется с вами.\n\nОтписаться от писем: {{unsubscribe_url}}\n', ''),
    ('shortage', 'email', 'en', 'Order No. {{number}}: some items are late',
     E'Hello {{customer_name}},\n\norder No. {{number}} is waiting for:\n{{#short_items}}{{sku}}: {{requested}}{{#expected_date}}, expected {{expected_date}}{{/expected_date}}\n{{/short_items}}\nYour manager will call you.\n\nUnsubscribe: {{unsubscribe_url}}\n', ''),
    ('assigned', 'telegram', 'ru', '', 'Вам назначен заказ №{{number}}: {{title}}', ''),
    ('assigned', 'telegram', 'en', '', 'Order No. {{number}} is yours: {{title}}', ''),
    ('assigned', 'email', 'ru', 'Вам назначен заказ №{{number}}', E'{{manager_name}}, вам назначен заказ №{{number}}: {{title}}\n', ''),
    ('assigned', 'email', 'en', 'Order No. {{number}} is yours', E'{{manager_name}}, order No. {{number}} is yours: {{title}}\n', ''),
    ('task', 'telegram', 'ru', '', 'Задача по заказу №{{number}}: {{task_title}}', ''),
    ('task', 'telegram', 'en', '', 'Task for order No. {{number}}: {{task_title}}', ''),
    ('stock_low', 'email', 'ru', 'Заканчивается {{product_name}} ({{sku}})',
     E'{{buyer_name}}, на складе осталось {{on_hand}} шт. {{product_name}} ({{sku}}), порог {{threshold}}.\n', ''),
    ('stock_low', 'email', 'en', 'Running low: {{product_name}} ({{sku}})',
     E'{{buyer_name}}, {{on_hand}} of {{product_name}} ({{sku}}) left, threshold {{threshold}}.\n', '');
