-- The finished deliveries of one channel, newest last: recording a
-- subscriber's given-up delivery counts its deliveries given up since its
-- last delivered one, inside the write transaction (store.giveUpSubscriber).
-- Without this index that count read the whole outbox for every give-up.
CREATE INDEX outbox_by_channel ON outbox (channel, status, id);
