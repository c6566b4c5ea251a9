-- Name inquiry with the holder's ID (issue 11): some banks can also confirm that an account's holder has a
-- given CCCD. The simulator keeps the holder's national id for some citizens' accounts (seeded by
-- banksim/bank.py `seed_bank` from CITIZEN_NATIONAL_IDS, at every start, so existing installations get them
-- too) and answers `id_match` true/false — never the id itself; null when it holds none.
ALTER TABLE accounts ADD COLUMN holder_national_id text CHECK (holder_national_id ~ '^[0-9]{12}$');
