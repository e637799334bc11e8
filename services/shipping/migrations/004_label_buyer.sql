-- Who buys a parcel's label: its own label job ('job') or the carrier's
-- batch it was processed in ('batch:<number>'); NULL while nobody has
-- started. Both take it by compare-and-set on the row before any paid
-- call, so a label is never bought by both. A parcel in a batch before its
-- label was bought is left to the batch (F25, F26).
ALTER TABLE shipments ADD COLUMN label_buyer text;
