"""Process settings, read once from the environment at the entry point and passed down."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a process needs to reach Kafka and Redis and to serve.

    Read from ``OCOP_*`` variables (``ocop-live stack env`` prints them for the local
    stack)::

        settings = load_settings()  # at the entry point only
        app = build_app(settings)
    """

    model_config = SettingsConfigDict(env_prefix="OCOP_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # OCOP_REDIS_URL names a node of a Redis Cluster, or several separated by commas (a
    # process then starts while any one is up), and the cluster client learns the others
    # from it (redis-py's RedisCluster.from_url takes the same redis:// URL as the
    # single-server client, so the mode is said here, not in the URL; docs/design.md,
    # "On a Redis Cluster"; store/client.py picks the client).
    redis_cluster: bool = False
    key_prefix: str = Field(default="ocop", pattern=r"^[A-Za-z0-9_.:-]{1,40}$")

    views_topic: str = "ocop.views"
    orders_topic: str = "ocop.orders"
    sessions_topic: str = "ocop.sessions"
    dlq_topic: str = "ocop.dlq"
    partitions: int = Field(default=6, ge=1, le=1024)
    # The topics ocop-live creates get this many replicas, and min.insync.replicas when it
    # is above 1: on three brokers 3 and 2, so a write acknowledged by every in-sync replica
    # survives losing one broker. Topics that exist keep what they have.
    replication_factor: int = Field(default=1, ge=1, le=32)
    min_insync_replicas: int = Field(default=1, ge=1, le=32)

    app_id: str = "ocop-live"
    # A killed worker's partitions move once its group session expires: keep it short so
    # a restart or a survivor takes over within seconds (Kafka's minimum is 6 s).
    group_session_timeout_s: float = Field(default=6.0, ge=6.0)
    group_heartbeat_s: float = Field(default=1.5, gt=0)
    # Stable name of this worker in the group (Kafka static membership), unique per
    # replica; "{hostname}" in it becomes the host name. A worker restarted under the
    # same name gets its partitions back at once instead of after the session timeout
    # (bench: takeover 6.3 s -> 2.3 s). Empty: dynamic membership.
    instance_id: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9._{}-]*$")
    batch_max: int = Field(default=2000, ge=1)
    batch_within_s: float = Field(default=0.2, gt=0)
    # How long the broker may hold a fetch that found nothing new (streams/tuning.py).
    fetch_max_wait_ms: int = Field(default=50, ge=1, le=1500)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    # Time rules (docs/design.md, "Late, early and duplicate events").
    max_future_skew_s: int = Field(default=120, ge=0)
    max_lateness_s: int = Field(default=3600, ge=60)
    max_age_s: int = Field(default=7 * 86400, ge=3600)
    # An order's status changes count for this long after its placement; its state is
    # forgotten after that (docs/design.md, "Bounded state"). Short values are for soaks.
    order_horizon_s: int = Field(default=7 * 86400, ge=60)
    # Minute buckets serve the board's 60-minute windows; below 3600 those windows lose
    # their oldest minutes (soaks shorten it to cross the retention several times).
    minute_retention_s: int = Field(default=3 * 3600, ge=60)
    # How long the input topics keep records (retention.ms) and quarter-hour buckets
    # stay in Redis: a whole campaign, so `ocop-live rebuild` can recompute it.
    retention_days: int = Field(default=200, ge=1, le=3650)
    # Fault injection for the chaos suite: events whose id starts with this fail inside
    # the handler and are dead-lettered as handler_error. Empty (the default) disables it.
    fault_event_prefix: str = ""

    worker_metrics_port: int = Field(default=6066, ge=0, le=65535)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    push_interval_s: float = Field(default=0.25, gt=0)
    # How often each web process looks at the shards' recorded offsets and the staff
    # commands for a change (web/hub.py says why it polls rather than subscribes).
    change_poll_s: float = Field(default=0.1, gt=0, le=10)
    heartbeat_s: float = Field(default=2.0, gt=0)
    top_n: int = Field(default=10, ge=1, le=100)
    # Origins allowed to open /ws/* (comma-separated; "*" = any). Empty: the server's own
    # address (docs/design.md, "Read side protocol").
    web_allowed_origins: str = ""
    # Open sockets per web process, by page, and per client address over both pages
    # (web/guard.py). Venue screens behind one NAT share an address: raise the last one
    # for a venue with more screens than that, or behind a proxy that does not keep
    # client addresses.
    web_max_board_connections: int = Field(default=1000, ge=1)
    web_max_host_connections: int = Field(default=200, ge=1)
    web_max_connections_per_address: int = Field(default=50, ge=1)
    web_screen_stale_s: float = Field(default=15.0, gt=0)
    # The venue screens' names (comma-separated), the only ones /board?screen=NAME takes:
    # each becomes a metric label, so the list bounds them.
    screens: str = Field(default="", max_length=2000,
                         pattern=r"^ *([a-z0-9][a-z0-9-]{0,39} *(, *[a-z0-9][a-z0-9-]{0,39} *)*)?$")
    # Revenue the fair aims at, shown as a progress bar with its pace; 0: no goal.
    fair_goal_vnd: int = Field(default=0, ge=0)
    # "Live now" takes in a session that counted an event this recently, whatever its
    # schedule says (sessions start early and overrun).
    live_grace_s: int = Field(default=300, ge=0)

    # The HTTP ingest gateway (`ocop-live ingest`) listens on OCOP_WEB_HOST:OCOP_INGEST_PORT.
    ingest_port: int = Field(default=8090, ge=0, le=65535)
    # Events a second one ingest key may post (token bucket; the bucket holds one second's
    # worth, and at least one full 500-event request).
    ingest_key_rate: float = Field(default=5000.0, gt=0)
    # How long a request waits for Kafka to acknowledge its events before answering 503.
    ingest_send_timeout_s: float = Field(default=10.0, gt=0)
    # Events one TikTok LIVE room connection holds while Kafka does not take them (about
    # 200 bytes each): past it, newer events are dropped and logged, not memory exhausted.
    tiktok_max_pending: int = Field(default=200_000, ge=500)
    # A TOML file of webhook sources (secret, mapping, amount endpoint, shop → session;
    # README, "Webhooks"). Empty: no source, every POST /v1/webhooks/... answers 404.
    webhook_sources: str = ""
    # A signed webhook's timestamp may be this far from the gateway's clock; one seen
    # again within twice this is a replay.
    webhook_tolerance_s: int = Field(default=300, ge=1, le=86_400)

    token_secret: SecretStr = SecretStr("")
    # The secret before the last rotation: still accepted when checking a host token, never
    # used to sign (docs/runbook.md, "Rotating the token secret"). Empty: none.
    token_secret_previous: SecretStr = SecretStr("")
    fair_title: str = "Chợ phiên OCOP"
    fair_place: str = "Cần Giờ, TP.HCM"

    @field_validator("redis_cluster")
    @classmethod
    def _one_server_unless_cluster(cls, cluster: bool, info: ValidationInfo) -> bool:
        if not cluster and "," in str(info.data.get("redis_url", "")):
            raise ValueError("OCOP_REDIS_URL lists several servers, which only a Redis "
                             "Cluster takes: set OCOP_REDIS_CLUSTER=1, or name one server")
        return cluster

    @property
    def screen_names(self) -> tuple[str, ...]:
        """``screens`` as names, in the configured order, each once."""
        return tuple(dict.fromkeys(name.strip() for name in self.screens.split(",")
                                   if name.strip()))

    @property
    def group_instance_id(self) -> str | None:
        """``instance_id`` with ``{hostname}`` filled in; None for dynamic membership."""
        return self.instance_id.replace("{hostname}", socket.gethostname()) or None


class SettingsError(ValueError):
    """An ``OCOP_*`` variable with a value the settings refuse; the message names it."""


def load_settings() -> Settings:
    """Settings read from the environment: the one way every command builds them."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"OCOP_{'_'.join(str(part) for part in error['loc']).upper()}="
            f"{error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise SettingsError(f"bad OCOP_* setting: {problems}") from exc
