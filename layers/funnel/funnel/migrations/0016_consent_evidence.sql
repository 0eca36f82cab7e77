-- Evidence of every consent change, so a grant can be proven (CASL puts the proof on the
-- sender): besides when, the source and the wording version (0002), the origin the
-- request came from (checked against AllowedOrigins), the page the form was on (its path
-- only), API Gateway's request id, the status it changed from, and whether the person
-- asked to be subscribed again (the form's "reconsent").
--
-- A grant after a withdrawal is written only when it was asked for: the capture's SQL
-- refuses it otherwise, and the constraint refuses a record that says otherwise, whoever
-- writes it. Records written before this migration have no previous status and are left
-- as they are.
ALTER TABLE consent_records
    ADD COLUMN origin           varchar(255),
    ADD COLUMN page             varchar(2048),
    ADD COLUMN request_id       varchar(128),
    ADD COLUMN previous_status  varchar(16),
    ADD COLUMN reconsent        boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT consent_records_previous_status_check
        CHECK (previous_status IN ('none', 'granted', 'withdrawn')),
    ADD CONSTRAINT consent_records_regrant_asked_for
        CHECK (NOT (status = 'granted' AND previous_status = 'withdrawn' AND NOT reconsent));
