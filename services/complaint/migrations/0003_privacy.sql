-- Erasure deletes a complaint's survey tokens (an answer after erasure would
-- bring a comment back); tokens are otherwise looked up by themselves.
CREATE INDEX survey_tokens_by_complaint ON survey_tokens (complaint_id);
