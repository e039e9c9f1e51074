-- Usernames are unique by how they look (docs/decisions/0008-friends-hardening.md): the
-- folded key (`username_key`, now NFKC with full case folding rather than lowercasing) is
-- what requests by name and search match; its TR39 confusable skeleton is what no two users
-- may share, so a Cyrillic `аlice` or an `a1ice` is not a second `alice`.
--
-- SQL cannot compute a skeleton, so rows stored before this migration get theirs (and their
-- new folded key) from friends-svc when it starts (`backfill.rs`): until then they are NULL,
-- which the unique index allows. A later migration can make the column NOT NULL once every
-- replica runs a version that writes it.

ALTER TABLE friends.users ADD COLUMN username_skeleton text COLLATE "C";
CREATE UNIQUE INDEX users_username_skeleton_unique ON friends.users (username_skeleton);
-- What the backfill still has to do, oldest first (the older holder of a look-alike keeps
-- it); empty once it ran.
CREATE INDEX users_without_skeleton ON friends.users (created_at, id)
    WHERE username_skeleton IS NULL;
