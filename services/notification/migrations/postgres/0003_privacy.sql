-- Finding a person's member rows by contact address (export and erasure of
-- a subject named by e-mail or phone, docs/privacy.md). E-mail addresses
-- match in any case, as common/privacy.h's subject keys do.
CREATE INDEX members_email ON members (lower(email)) WHERE email <> '';
CREATE INDEX members_phone ON members (phone) WHERE phone <> '';
