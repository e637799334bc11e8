-- The tracking messages of a parcel with no tracking number (the store's
-- city courier has no API, F29, and gives none): the shipped defaults said
-- "трек " and "Трек-номер: " with nothing after them. The number and its
-- link are now told only when there is one; the text is unchanged when
-- there is. A template a store has edited is left as it is.
UPDATE templates SET body = E'Здравствуйте, {{customer_name}}!\n\nЗаказ №{{number}} передан в {{carrier}}.{{#tracking_number}} Трек-номер: {{tracking_number}}\n{{tracking_url}}{{/tracking_number}}\n\nОтписаться от писем: {{unsubscribe_url}}\n'
 WHERE template = 'tracking' AND channel = 'email' AND language = 'ru'
   AND body = E'Здравствуйте, {{customer_name}}!\n\nЗаказ №{{number}} передан в {{carrier}}. Трек-номер: {{tracking_number}}\n{{tracking_url}}\n\nОтписаться от писем: {{unsubscribe_url}}\n';
UPDATE templates SET body = E'Hello {{customer_name}},\n\norder No. {{number}} is with {{carrier}}.{{#tracking_number}} Tracking number: {{tracking_number}}\n{{tracking_url}}{{/tracking_number}}\n\nUnsubscribe: {{unsubscribe_url}}\n'
 WHERE template = 'tracking' AND channel = 'email' AND language = 'en'
   AND body = E'Hello {{customer_name}},\n\norder No. {{number}} is with {{carrier}}. Tracking number: {{tracking_number}}\n{{tracking_url}}\n\nUnsubscribe: {{unsubscribe_url}}\n';
UPDATE templates SET body = 'Заказ №{{number}} в пути{{#tracking_number}}, трек {{tracking_number}}{{/tracking_number}}'
 WHERE template = 'tracking' AND channel = 'sms' AND language = 'ru'
   AND body = 'Заказ №{{number}} в пути, трек {{tracking_number}}';
UPDATE templates SET body = 'Order No. {{number}} shipped{{#tracking_number}}, tracking {{tracking_number}}{{/tracking_number}}'
 WHERE template = 'tracking' AND channel = 'sms' AND language = 'en'
   AND body = 'Order No. {{number}} shipped, tracking {{tracking_number}}';
