-- Whether an admin set the user's role (PATCH /api/v1/users/{id}). Until one did, the role in the
-- user's token wins, so an identity provider's role change reaches classhub; after, the
-- directory's role wins over the token's.
ALTER TABLE users ADD COLUMN role_from_admin BOOLEAN NOT NULL DEFAULT FALSE;
