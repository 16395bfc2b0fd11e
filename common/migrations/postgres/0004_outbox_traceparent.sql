-- The W3C traceparent of the span that enqueued each event (common/trace.h;
-- same as ../0005_outbox_traceparent.sql),
-- sent with its delivery so the receiver continues the same trace. Rows
-- from before carry '' and are delivered in a trace of their own.
ALTER TABLE outbox ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
