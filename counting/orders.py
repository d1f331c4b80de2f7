"""The order lifecycle as a join-semilattice, so arrival order and repeats do not matter.

An order is identified by (session_id, order_id). Its state is the merge of every
accepted status event:
- the highest status precedence seen (placed < paid < cancelled = refunded);
- the *anchor*: the event with the smallest (ts_ms, precedence, event_id). It fixes the
  product, quantity, amount and the minute the order belongs to, which is the placing
  event whenever that one arrives.
Merging is commutative, associative and idempotent, so any shuffle or repetition of the
same events yields the same state.
"""

from __future__ import annotations

from dataclasses import dataclass

from counting.contract import OrderEvent

AnchorKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class OrderState:
    """What is known about one order after merging its accepted status events."""

    anchor: AnchorKey
    product_id: str
    quantity: int
    amount_vnd: int
    precedence: int

    @property
    def counts(self) -> bool:
        """An order counts while its strongest status is placed or paid."""
        return self.precedence <= 1

    @property
    def ts_ms(self) -> int:
        """Event time of the anchor: the bucket where the order was placed."""
        return self.anchor[0]

    @classmethod
    def of(cls, event: OrderEvent) -> OrderState:
        """State of an order seen through a single event."""
        precedence = event.status.precedence
        return cls(
            anchor=(event.ts_ms, precedence, event.event_id),
            product_id=event.product_id,
            quantity=event.quantity,
            amount_vnd=event.amount_vnd,
            precedence=precedence,
        )

    def merge(self, event: OrderEvent) -> OrderState:
        """State after one more event of the same order."""
        other = OrderState.of(event)
        # Ties on the anchor (one event id reused with another payload) break on the
        # payload too, so even a contract-breaking producer cannot make order matter.
        base = other if other._rank_key() < self._rank_key() else self
        return OrderState(
            anchor=base.anchor,
            product_id=base.product_id,
            quantity=base.quantity,
            amount_vnd=base.amount_vnd,
            precedence=max(self.precedence, other.precedence),
        )

    def _rank_key(self) -> tuple[int, int, str, str, int, int]:
        return (*self.anchor, self.product_id, self.quantity, self.amount_vnd)

    def to_list(self) -> list[int | str]:
        """Compact JSON-friendly form for the store."""
        ts, prec, event_id = self.anchor
        return [ts, prec, event_id, self.product_id, self.quantity, self.amount_vnd,
                self.precedence]

    @classmethod
    def from_list(cls, row: list[int | str]) -> OrderState:
        """Inverse of :meth:`to_list`."""
        ts, prec, event_id, product_id, quantity, amount, precedence = row
        return cls(
            anchor=(int(ts), int(prec), str(event_id)),
            product_id=str(product_id),
            quantity=int(quantity),
            amount_vnd=int(amount),
            precedence=int(precedence),
        )
