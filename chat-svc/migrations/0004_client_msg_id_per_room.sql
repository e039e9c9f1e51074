-- A clientMsgId is unique per sender and room: the same id in another room is another
-- message (docs/API.md, send-message). The index leads with the sender and the room, which
-- is how a retry is looked up.

ALTER TABLE chat.messages DROP CONSTRAINT messages_client_msg_id_unique;
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_client_msg_id_unique UNIQUE (sender_id, room_id, client_msg_id);
