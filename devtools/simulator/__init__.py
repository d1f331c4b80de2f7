"""Fair simulator: a seeded generator of view and order events, its exact ground truth,
and a Kafka producer and ``simulate`` command to send them; a campaign generator plays a
catalog's fairs over the last weeks as one recorded feed.

The pure parts are importable without Kafka::

    from devtools.simulator import FairConfig, compute_truth, generate

    fair = generate(catalog, FairConfig(start_ms=t0, span_ms=600_000, events=10_000))
    truth = compute_truth(fair.messages, fair.catalog, seed=fair.config.seed)

    campaign = generate_campaign(catalog, CampaignConfig(now_ms=now, weeks=3))
    truth = compute_truth(campaign.messages, campaign.catalog, seed=0)
"""

from devtools.simulator.campaign import Campaign, CampaignConfig, generate_campaign, place_fairs
from devtools.simulator.fair import INVALID_REASONS, Fair, FairConfig, Message, generate
from devtools.simulator.truth import compute_truth, truth_json, write_truth

__all__ = [
    "INVALID_REASONS",
    "Campaign",
    "CampaignConfig",
    "Fair",
    "FairConfig",
    "Message",
    "compute_truth",
    "generate",
    "generate_campaign",
    "place_fairs",
    "truth_json",
    "write_truth",
]
