-- The details of a CALL message (docs/API.md "/calls"): the `parley.calls.v1.CallLog`
-- calls-svc wrote with it, protobuf-encoded, so that a field the contract gains later is
-- kept without a migration. NULL on every other type, and once the message is deleted.

ALTER TABLE chat.messages ADD COLUMN call bytea;
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_call_only_on_calls CHECK (call IS NULL OR message_type = 'CALL');
