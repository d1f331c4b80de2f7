"""The Redis key layout, shared by the write side (streams/) and the read side (web/).

Field names inside the hashes live next door, in ``store/fields.py``.

Nobody else spells a key. Every key of a shard carries the hash tag ``{s<N>}``, so a
shard's counters, its offsets and its order states sit in one Redis Cluster slot and one
transaction can cover them all. Shard N holds the sessions whose key hashes to
partition N of the (co-partitioned) input topics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (tests use their own prefix).

    Usage::

        keys = Keys(prefix="ocop")
        keys.totals(3)   # 'ocop:{s3}:totals'
    """

    prefix: str = "ocop"

    def _shard(self, shard: int) -> str:
        return f"{self.prefix}:{{s{shard}}}"

    def offsets(self, shard: int) -> str:
        """Hash topic → last offset applied to this shard (the fence)."""
        return f"{self._shard(shard)}:offsets"

    def stopped(self, shard: int) -> str:
        """Hash that exists once an apply failed after writing: no worker applies to the
        shard again until a rebuild removes it."""
        return f"{self._shard(shard)}:stopped"

    def watermarks(self, shard: int) -> str:
        """Hash topic → newest event time accepted (stream time for lateness)."""
        return f"{self._shard(shard)}:watermarks"

    def seen(self, shard: int, minute_ms: int) -> str:
        """String of the fingerprints of ids accepted for one event minute, 8 bytes each."""
        return f"{self._shard(shard)}:seen:{minute_ms}"

    def seen_minutes(self, shard: int) -> str:
        """Set of the event minutes that have a ``seen`` string (for loading them)."""
        return f"{self._shard(shard)}:seen-minutes"

    def orders(self, shard: int) -> str:
        """Hash order key → merged order state."""
        return f"{self._shard(shard)}:orders"

    def order_activity(self, shard: int) -> str:
        """Hash session id → newest accepted order event time (the order horizon's clock)."""
        return f"{self._shard(shard)}:order-activity"

    def orders_forgotten(self, shard: int) -> str:
        """Hash session id → its order activity when its order states were forgotten."""
        return f"{self._shard(shard)}:orders-forgotten"

    def totals(self, shard: int) -> str:
        """Hash of the shard's share of the fair totals."""
        return f"{self._shard(shard)}:totals"

    def sessions(self, shard: int) -> str:
        """Set of session ids this shard has counted."""
        return f"{self._shard(shard)}:sessions"

    def session(self, shard: int, session_id: str) -> str:
        """Hash of one session's counters, live viewers and per-product units/GMV."""
        return f"{self._shard(shard)}:session:{session_id}"

    def session_viewers(self, shard: int, session_id: str) -> str:
        """HyperLogLog of one session's viewer ids."""
        return f"{self._shard(shard)}:hll:{session_id}"

    def viewers(self, shard: int) -> str:
        """HyperLogLog of all viewer ids counted in this shard."""
        return f"{self._shard(shard)}:hll"

    def top_gmv(self, shard: int) -> str:
        """Sorted set session → GMV."""
        return f"{self._shard(shard)}:top:gmv"

    def top_viewers(self, shard: int) -> str:
        """Sorted set session → viewers now."""
        return f"{self._shard(shard)}:top:viewers"

    def product_units(self, shard: int) -> str:
        """Sorted set product → units (a product sold in several shards sums at read time)."""
        return f"{self._shard(shard)}:top:units"

    def product_gmv(self, shard: int) -> str:
        """Sorted set product → GMV."""
        return f"{self._shard(shard)}:top:product_gmv"

    def minute(self, shard: int, minute_ms: int) -> str:
        """Hash of one event-time minute: fair fields, and ``<session>|<field>`` fields."""
        return f"{self._shard(shard)}:minute:{minute_ms}"

    def day(self, shard: int, day: str) -> str:
        """Hash of one Asia/Ho_Chi_Minh day, laid out like a minute."""
        return f"{self._shard(shard)}:day:{day}"

    def quarter(self, shard: int, quarter_ms: int) -> str:
        """Hash of one event-time quarter hour, laid out like a minute; kept for the
        campaign's retention, so a report can draw a past fair's timeline."""
        return f"{self._shard(shard)}:quarter:{quarter_ms}"

    def layout(self) -> str:
        """Hash of the layout the shards were counted with (``partitions``): a worker
        refuses topics with another partition count (``store/layout.py``)."""
        return f"{self.prefix}:layout"

    def catalog(self) -> str:
        """Hash session id → catalog JSON (its own slot; never in a shard transaction)."""
        return f"{self.prefix}:{{catalog}}:sessions"

    def fairs(self) -> str:
        """Hash fair id → fair JSON, in the catalog's slot."""
        return f"{self.prefix}:{{catalog}}:fairs"

    def ingest_keys(self) -> str:
        """Hash SHA-256 hex digest of an ingest key → its grant JSON (name, bound sessions
        and shops); the key itself is never stored."""
        return f"{self.prefix}:{{ingest}}:keys"

    def ingest_key_names(self) -> str:
        """Hash ingest key name → the digest it is stored under (for list and revoke)."""
        return f"{self.prefix}:{{ingest}}:names"

    def webhook_seen(self, source: str, notification_id: str) -> str:
        """String, with an expiry: a webhook notification of ``source`` already produced
        (every gateway process sees it, so a replay to another one is caught too)."""
        return f"{self.prefix}:{{ingest}}:seen:{source}:{notification_id}"

    def scratch(self, nonce: str) -> str:
        """Prefix of a reader's short-lived copies of HyperLogLogs, all in one slot, so a
        cluster can count a union of HyperLogLogs from many shards (``store/unions.py``)."""
        return f"{self.prefix}:{{scratch}}:{nonce}"

    def screens_commands(self) -> str:
        """Hash staff command (``reload``, ``controls``) → how many times it was given;
        every web process polls it and acts on a count that moved."""
        return f"{self.prefix}:screens:commands"

    def web_processes(self) -> str:
        """Hash web process (host:port) → epoch ms of its last look at the commands, so
        a staff command can say how many processes will act on it."""
        return f"{self.prefix}:web:processes"

    def screens_seen(self) -> str:
        """Hash screen name → epoch ms of its last contact with any web process."""
        return f"{self.prefix}:screens:seen"

    def screens_message(self) -> str:
        """String: the staff message every screen shows (JSON; expires with its TTL)."""
        return f"{self.prefix}:screens:message"

    def hidden_sessions(self) -> str:
        """Set of session ids staff took off the leaderboards (still counted)."""
        return f"{self.prefix}:board:hidden"

    def everything(self) -> str:
        """Glob pattern matching every key under this prefix (for a throwaway prefix)."""
        return f"{self.prefix}:*"

