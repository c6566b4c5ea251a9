-- Issue 12, point 8: the banking apps a citizen can open from the pay page through VietQR's app deeplinks
-- (https://dl.vietqr.io/pay?app=<app_id>&...). Data, not code: banks join and leave VietQR's list, and an admin
-- keeps this table in step on /admin/bank-apps (every change audited). app_id is VietQR's published appId
-- (api.vietqr.io/v2/android-app-deeplinks); bank_bin is the bank the app belongs to.
CREATE TABLE pay_bank_apps (
    app_id       text PRIMARY KEY CHECK (app_id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 60),
    bank_bin     text NOT NULL REFERENCES banks(bin),
    sort_order   integer NOT NULL DEFAULT 100 CHECK (sort_order BETWEEN 0 AND 10000),
    enabled      boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pay_bank_apps_order ON pay_bank_apps (sort_order, display_name) WHERE enabled;

-- The common apps, most used first. VietQR publishes no app for Sacombank (no "stb" appId): not seeded.
INSERT INTO pay_bank_apps (app_id, display_name, bank_bin, sort_order) VALUES
    ('vcb',   'Vietcombank',               '970436', 10),
    ('mb',    'MB Bank',                   '970422', 20),
    ('bidv',  'BIDV SmartBanking',         '970418', 30),
    ('icb',   'VietinBank iPay',           '970415', 40),
    ('vba',   'Agribank E-Mobile Banking', '970405', 50),
    ('tcb',   'Techcombank Mobile',        '970407', 60),
    ('acb',   'ACB One',                   '970416', 70),
    ('vpb',   'VPBank NEO',                '970432', 80),
    ('tpb',   'TPBank Mobile',             '970423', 90),
    ('ocb',   'OCB OMNI',                  '970448', 100),
    ('hdb',   'HDBank',                    '970437', 110),
    ('shb',   'SHB Mobile Banking',        '970443', 120),
    ('vib-2', 'MyVIB 2.0',                 '970441', 130),
    ('seab',  'SeAMobile',                 '970440', 140),
    ('lpb',   'LPBank',                    '970449', 150),
    ('eib',   'Eximbank Mobile Banking',   '970431', 160);
